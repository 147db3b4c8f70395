//! Conversion of alloy RPC types into the model.
