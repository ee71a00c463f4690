/**
 * The form that opens an incident (4-8-11(1): whoever notices reports at once), from an alarm
 * on the console or by an operator in the incidents panel. The zone's manager is notified by
 * the server as soon as it is opened.
 * @module incident_form
 */

import { t, tOr } from "./i18n.js";

/**
 * @typedef {{alarm_id: string, type: string, source: string, zone_id: string | null}} AlarmRef
 */

/**
 * The FormSpec of opening an incident.
 * @param {import("./panels.js").PanelContext} ctx
 * @param {import("./site.js").SitePlan} plan
 * @param {{alarm?: AlarmRef, where?: string, returnTo?: () => HTMLElement | null}} [from]
 * @returns {import("./dialog.js").FormSpec}
 */
export function incidentForm(ctx, plan, from = {}) {
  const { alarm, where } = from;
  const alarmLabel = () =>
    alarm ? `${tOr("alarm_type_", alarm.type)} — ${where ?? alarm.source}` : "";
  /** @type {import("./dialog.js").FieldSpec[]} */
  const fields = [
    {
      name: "title",
      type: "text",
      label: () => t("incident_title"),
      required: true,
      maxlength: 200,
      value: alarm ? alarmLabel() : "",
    },
  ];
  if (!alarm) {
    fields.push({
      name: "zone_id",
      type: "select",
      label: () => t("incident_zone"),
      choices: () => [
        { value: "", label: t("incident_no_zone") },
        ...plan.zones.map((z) => ({ value: z.id, label: z.name })),
      ],
    });
  }
  fields.push(
    {
      name: "description",
      type: "textarea",
      label: () => t("incident_description"),
      maxlength: 500,
    },
    {
      name: "personal_data",
      type: "checkbox",
      label: () => t("incident_personal_data"),
      hint: () => t("incident_personal_data_hint"),
    },
  );
  return {
    title: () =>
      alarm ? t("incident_open_from_alarm", { alarm: alarmLabel() }) : t("incident_open_title"),
    body: () => [
      t("incident_open_text"),
      ...(alarm?.zone_id ? [t("incident_open_zone", { zone: plan.zoneName(alarm.zone_id) })] : []),
    ],
    fields,
    confirm: () => t("incident_open_confirm"),
    confirmIcon: "alarm",
    returnTo: from.returnTo,
    async submit(values) {
      const incident = await ctx.api.post("/incidents", {
        title: values.title,
        alarm_id: alarm?.alarm_id ?? null,
        zone_id: alarm ? null : values.zone_id || null,
        description: values.description || null,
        personal_data: values.personal_data === true,
      });
      ctx.hub.emit("incident-opened", incident);
      ctx.status(t("incident_opened", { title: incident.title }));
    },
  };
}
