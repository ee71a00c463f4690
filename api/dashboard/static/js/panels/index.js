/**
 * Every panel of the page: importing a panel's module registers it. Add new panels here.
 * @module panels/index
 */

import "./alarm_console.js";
import "./doors.js";
import "./occupancy.js";
import "./incidents.js";
import "./events.js";
import "./charts.js";
import "./visitors.js";
import "./media.js";
import "./cameras.js";
