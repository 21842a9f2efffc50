//! OPACA's JSON models (agents, actions, containers, messages) and the validation of an
//! action's arguments against its declared parameters.

pub mod model;
pub mod validate;
