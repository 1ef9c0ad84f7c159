// The search results page: its times in the reader's time zone.
import { formatLocalTimes } from "./local_time.js";

formatLocalTimes(document);
