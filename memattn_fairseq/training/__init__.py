"""Training steps that fairseq's default task step cannot express (Memformer's MRBP)."""
