//! Interop with independent SMPP implementations (npm `smpp`, PyPI `smpplib`).
