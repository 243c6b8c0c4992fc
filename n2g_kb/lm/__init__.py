"""The language model door: loading a model and reading its neuron activations fast."""
