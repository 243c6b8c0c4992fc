// Test helper: every Token node's text. Parameters: none.
MATCH (t:Token) RETURN t.text AS text
