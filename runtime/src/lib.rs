//! The CallScript runtime (VM, scheduler, telephony, store); grows with the VM issue.
