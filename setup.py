from setuptools import find_packages, setup

setup(
    name="memattn-fairseq",
    version="0.1.0",
    description="Bounded-memory attention (ABC, MemSizer, Memformer) as a fairseq plugin",
    packages=find_packages(include=["memattn_fairseq", "memattn_fairseq.*"]),
    license="MIT",
    python_requires="==3.11.*",
    # torch and fairseq-fixed are installed by scripts/setup_env.sh (CPU torch; fairseq built from source);
    # listing them here would let pip replace them with other builds.
    install_requires=["hydra-core==1.3.2", "omegaconf==2.3.0", "sacrebleu", "sentencepiece"],
)
