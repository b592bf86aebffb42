//! Data sets: MNIST from IDX files (gzip or not) and the UCI digits embedded in the binary.

pub mod digits;
pub mod idx;
pub mod images;
