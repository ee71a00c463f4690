/**
 * Every panel of the page: importing a panel's module registers it. Add new panels here.
 * @module panels/index
 */

import "./doors.js";
import "./events.js";
import "./charts.js";
