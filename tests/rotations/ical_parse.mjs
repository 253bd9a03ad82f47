// Reads an iCalendar document on stdin and prints what Mozilla's ical.js (the
// parser of Thunderbird) makes of it, as JSON, for tests/rotations/test_feeds.py.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const utc = (time) => ({
  // A floating time (no Z, no TZID) would be read in the reader's own zone.
  iso: time.toJSDate().toISOString().replace(".000Z", "Z"),
  zone: time.zone ? time.zone.tzid : null,
});

const vcalendar = new ICAL.Component(ICAL.parse(readFileSync(0, "utf8")));
const events = vcalendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const start = utc(event.startDate);
  const end = utc(event.endDate);
  return {
    uid: event.uid,
    start: start.iso,
    start_zone: start.zone,
    end: end.iso,
    end_zone: end.zone,
    summary: event.summary,
    sequence: event.sequence,
    transp: vevent.getFirstPropertyValue("transp"),
  };
});
const calendar = {
  name: vcalendar.getFirstPropertyValue("x-wr-calname"),
  method: vcalendar.getFirstPropertyValue("method"),
  refresh: String(vcalendar.getFirstPropertyValue("refresh-interval")),
};
process.stdout.write(JSON.stringify({ calendar, events }));
