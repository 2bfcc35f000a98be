//! Differential test against python-gsmmodem-new's `gsmmodem.pdu`.
