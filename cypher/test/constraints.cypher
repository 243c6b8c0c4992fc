// Test helper: names of the constraints in the database. Parameters: none.
SHOW CONSTRAINTS YIELD name RETURN name
