//! The embedded balancer (being written).
