//! AT engine for GSM modems: digester, typed commands, modem profiles and the slot supervisor.
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]

pub mod command;
pub mod digest;
pub mod error;
pub mod hex;
pub mod params;
pub mod profile;
pub mod slot;
