//! Energies (in progress).
