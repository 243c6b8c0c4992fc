"""The knowledge base: the local Neo4j, the one door to it (store), its Cypher, queries and fixtures."""
