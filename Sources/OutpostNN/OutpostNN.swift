/// OutpostNN: layers, the models of the gradient-leakage literature, initializers and optimizers.
