//! GSM SMS codec: alphabet, packing, segment planning and TPDUs (3GPP TS 23.038 / 23.040).
#![cfg_attr(not(test), no_std)]
