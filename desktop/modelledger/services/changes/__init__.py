"""How every change is made and announced: `unit_of_work.audited_write` (the change, its audit
events and its change notification in one transaction), the `events.ChangeBus`, and writing a
user's file atomically. Uses storage and core only; every other feature writes through it."""
