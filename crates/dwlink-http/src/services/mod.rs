//! The services, one module each: F&O, Dataverse, the Power Platform admin API, the dual-write
//! management service (`dws`), and the OData reading they share.

pub(crate) mod admin;
pub(crate) mod count;
pub(crate) mod dataverse;
pub mod dws;
pub mod fo;
pub(crate) mod metadata;
pub mod odata;
pub(crate) mod picked;
pub(crate) mod tables;
pub(crate) mod typed;
