/// OutpostMetrics: leakage metrics on images with pixels in [0, 1].
