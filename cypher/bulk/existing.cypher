// What a bulk build must carry over: the Model and Run nodes (written before the neurons
// by an ingest), and how many other nodes there are (the bulk build needs none).
// Parameters: none.
CALL () { OPTIONAL MATCH (m:Model) RETURN collect(properties(m)) AS models }
CALL () {
  OPTIONAL MATCH (r:Run)
  OPTIONAL MATCH (r)-[:OF_MODEL]->(m:Model)
  RETURN [x IN collect({props: properties(r), model: m.name}) WHERE x.props IS NOT NULL] AS runs
}
CALL () { MATCH (n) WHERE NOT n:Model AND NOT n:Run AND NOT n:KnowledgeBase RETURN count(n) AS others }
RETURN models, runs, others
