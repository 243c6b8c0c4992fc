// The summary edges of one model's neurons: FIRES_ON (activation) and CONTEXT (importance:
// the Neuron's context_importance at the token's place in its context list; knowledge bases
// written before it hold it on the edge).
// Parameters: $model.
MATCH (n:Neuron {model: $model})-[e:FIRES_ON|CONTEXT]->(t:Token)
WITH n, e, t, CASE type(e) WHEN 'CONTEXT' THEN [i IN range(0, size(coalesce(n.context, [])) - 1) WHERE n.context[i] = t.text][0] END AS at
RETURN n.layer AS layer, n.index AS neuron, type(e) AS role, t.text AS token,
       coalesce(e.activation, e.importance, n.context_importance[at]) AS value
ORDER BY layer, neuron, role, token
