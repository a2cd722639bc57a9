"""The NCL method's objective: patch categories and sampling (`patches`), the
non-mutually exclusive contrastive and pivot-consistent losses (`losses`), and the
total loss of a batch (`objective`)."""
