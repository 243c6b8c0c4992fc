"""The views: drawing a neuron's graph and writing evaluation reports."""
