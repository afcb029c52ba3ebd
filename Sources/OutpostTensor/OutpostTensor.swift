/// OutpostTensor: N-d tensors with reverse-mode automatic differentiation to any order.
