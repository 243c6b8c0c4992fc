// What the knowledge base holds for one model: its Model node (may be null), the layers
// with stored neurons, and how many neurons there are. Evaluation uses it to tell "no such
// model" from "nothing in these layers".
// Parameters: $model.
OPTIONAL MATCH (m:Model {name: $model})
CALL () {
  OPTIONAL MATCH (n:Neuron {model: $model})
  WITH n.layer AS layer, count(n) AS neurons
  ORDER BY layer
  RETURN [l IN collect(layer) WHERE l IS NOT NULL] AS layers, sum(neurons) AS neurons
}
RETURN properties(m) AS model, layers, neurons
