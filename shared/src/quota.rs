//! What one device may make the relay store in a day.
//!
//! A tablet with a valid credential can otherwise fill the relay's disk: a thousand drafts, or
//! one desk day grown to the document limit again and again. Each device has a daily allowance
//! of stored bytes and of new documents, counted against the relay's date. It is daily, not for
//! the device's whole life, so that a tablet used for years is never locked out; what is kept
//! over years is bounded by retention instead. A real desk adds tens of kilobytes and one or two
//! documents a day; a tablet back after a month offline, a month of days.
//!
//! The ledger is kept here, in the sans-IO core, and written through the relay's [`Write`]s in
//! the same transaction as the content it charges for, so a restart does not refill it.
//!
//! [`Write`]: crate::relay::Write

use chrono::NaiveDate;
use std::collections::HashMap;

/// A device's daily allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// Bytes of new content stored (as stored: chunks, compressed where automerge compresses).
    pub bytes: u64,
    /// Documents created (drafts included).
    pub documents: u64,
}

impl Default for Allowance {
    fn default() -> Self {
        Allowance { bytes: 32 << 20, documents: 200 }
    }
}

/// What a device has stored on one day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub documents: u64,
}

/// The usage of the devices the relay has seen, for the relay's current day.
#[derive(Debug, Default)]
pub struct Ledger {
    day: Option<NaiveDate>,
    devices: HashMap<String, Usage>,
}

impl Ledger {
    /// A new day starts every device's allowance afresh.
    pub fn set_today(&mut self, today: NaiveDate) {
        if self.day != Some(today) {
            self.day = Some(today);
            self.devices.clear();
        }
    }

    pub fn today(&self) -> Option<NaiveDate> {
        self.day
    }

    /// What storage says the device used on `day` (read when it connects). The larger count
    /// wins: this relay's own count is never behind what it wrote, and another relay sharing the
    /// database may have written more.
    pub fn note(&mut self, device: &str, day: NaiveDate, stored: Usage) {
        if self.day != Some(day) {
            return;
        }
        let u = self.devices.entry(device.to_owned()).or_default();
        u.bytes = u.bytes.max(stored.bytes);
        u.documents = u.documents.max(stored.documents);
    }

    pub fn usage(&self, device: &str) -> Usage {
        self.devices.get(device).copied().unwrap_or_default()
    }

    /// Whether the device may store `bytes` more and create `documents` more today; if so,
    /// its usage afterwards (to be recorded with the content). Without a day, nothing is
    /// counted.
    pub fn check(&self, device: &str, bytes: u64, documents: u64, allow: Allowance) -> Result<Option<Usage>, String> {
        if self.day.is_none() {
            return Ok(None);
        }
        let u = self.usage(device);
        let after = Usage { bytes: u.bytes + bytes, documents: u.documents + documents };
        if after.documents > allow.documents {
            return Err(format!(
                "this tablet has created its {} new documents for today; what it stored is kept, and it can \
                 send more tomorrow",
                allow.documents
            ));
        }
        if after.bytes > allow.bytes {
            return Err(format!(
                "this tablet has stored its {} bytes for today ({} so far); what it stored is kept, and it can \
                 send more tomorrow",
                allow.bytes, u.bytes
            ));
        }
        Ok(Some(after))
    }

    /// Records a checked charge.
    pub fn charge(&mut self, device: &str, after: Usage) {
        self.devices.insert(device.to_owned(), after);
    }

    /// Forgets a device no longer connected (what it used is in storage, read again if it
    /// comes back), so the ledger holds at most the connected devices.
    pub fn forget(&mut self, device: &str) {
        self.devices.remove(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn a_device_is_held_to_its_allowance_and_a_new_day_refills_it() {
        let allow = Allowance { bytes: 100, documents: 2 };
        let mut l = Ledger::default();
        assert_eq!(l.check("t", 1_000_000, 9, allow), Ok(None), "no day, nothing counted");
        l.set_today(day(1));
        let u = l.check("t", 60, 1, allow).unwrap().unwrap();
        l.charge("t", u);
        assert!(l.check("t", 41, 0, allow).unwrap_err().contains("100 bytes"));
        assert!(l.check("t", 40, 2, allow).unwrap_err().contains("2 new documents"));
        assert_eq!(l.check("other", 100, 2, allow).unwrap(), Some(Usage { bytes: 100, documents: 2 }));
        l.set_today(day(1));
        assert_eq!(l.usage("t"), Usage { bytes: 60, documents: 1 }, "the same day keeps the count");
        l.set_today(day(2));
        assert_eq!(l.usage("t"), Usage::default());
    }

    #[test]
    fn what_storage_says_is_taken_when_it_is_more() {
        let mut l = Ledger::default();
        l.set_today(day(1));
        l.charge("t", Usage { bytes: 50, documents: 3 });
        l.note("t", day(1), Usage { bytes: 80, documents: 1 });
        assert_eq!(l.usage("t"), Usage { bytes: 80, documents: 3 });
        l.note("t", day(2), Usage { bytes: 999, documents: 99 });
        assert_eq!(l.usage("t"), Usage { bytes: 80, documents: 3 }, "another day's usage is not today's");
        l.forget("t");
        assert_eq!(l.usage("t"), Usage::default());
    }
}
