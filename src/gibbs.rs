//! Energies to probabilities (in progress).
