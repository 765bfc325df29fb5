"""Plugin options as FairseqDataclass configs, and the builders that turn them into attention modules."""
