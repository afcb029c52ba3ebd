/// OutpostData: data set readers, federated partitions and image input/output.
