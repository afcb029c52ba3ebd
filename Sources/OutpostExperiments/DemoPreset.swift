/// The configuration `outpost demo` runs: an `outpost run` configuration on the shipped
/// sample data. The same text is committed as `examples/demo/demo.yml` (a test keeps the two
/// identical).
public enum DemoPreset {
    /// The YAML text.
    public static let yaml = """
# `outpost demo`: a short, real audit on the sample data shipped with Outpost.
# FedAvg over 40 Fashion-MNIST clients (4 images each) for 30 rounds, once per defense; in rounds 1
# and 20 the server attacks the first sampled client's update with DLG (iDLG: labels known) and Inverting Gradients,
# unrolling the client's two local steps. About two minutes on two cores.
#   outpost demo                      (this configuration, built into the binary)
#   outpost run examples/demo/demo.yml
seed: 0
data:
  dataset: fashion-mnist
model:
  architecture: lenet
  channels: 1
  image_size: 28
  classes: 10
  initialization: dlg
federation:
  clients: 40
  clients_per_round: 8
  rounds: 30
  partition: {scheme: fixed, samples_per_client: 4}
training:
  epochs: 1
  batch_size: 2
  learning_rate: 0.1
defenses:
  - {defense: none}
  - {defense: outpost}
  - {defense: gc, percent: 80}
  - {defense: dp_noise, distribution: laplace, variance: 0.1}
attacks:
  rounds: [1, 20]
  clients: [0]
  threat_model:
    known: [learning_rate, local_epochs, batch_size, sample_count, labels, normalization]
  methods:
    - {name: idlg, iterations: 150, matching: unrolled, labels: known}
    - {name: inverting_gradients, iterations: 1000, matching: unrolled, labels: known}
output:
  directory: outpost-demo

"""
}
