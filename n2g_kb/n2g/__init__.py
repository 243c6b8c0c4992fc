"""The N2G algorithm: pruning, saliency, augmentation, the trie, scoring; data in, data out."""
