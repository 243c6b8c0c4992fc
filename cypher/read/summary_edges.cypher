// The summary edges of one model's neurons: FIRES_ON (activation) and CONTEXT (importance).
// Parameters: $model.
MATCH (n:Neuron {model: $model})-[e:FIRES_ON|CONTEXT]->(t:Token)
RETURN n.layer AS layer, n.index AS neuron, type(e) AS role, t.text AS token,
       coalesce(e.activation, e.importance) AS value
ORDER BY layer, neuron, role, token
