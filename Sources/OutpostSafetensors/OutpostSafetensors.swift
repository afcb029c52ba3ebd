/// OutpostSafetensors: reading and writing the safetensors weight format.
