"""The alarm catalogue: a declarative table of every alarm type Sekisho knows.

For each type: default priority (1 = most urgent), operator instructions in Japanese and
English, seconds before an unacknowledged alarm escalates to the chief, which records raise it,
which records clear it, and where its source comes from. A type with nothing that clears it is
an *event* alarm (a bulk export, a duress PIN): its condition ends when it is acknowledged.

Clauses: 4-8-7(4) intrusion (forced, held, tamper, PIR), 4-8-7(5) fire/water/power/wiring,
4-8-6(5) bulk export, 4-8-5(6) media overdue, 4-8-11(6)(7) overdue legal reporting steps.
The site file may override priority, escalation and instructions per type (``alarms:``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from gateway.records import NewRecord, RecordKind

K = RecordKind


class Source(StrEnum):
    """Which field of the triggering record names the alarm's source."""

    DOOR = "door"  # door_id
    READER = "reader"  # reader_id
    MODULE = "module"  # detail["module"]
    SENSOR = "sensor"  # detail["sensor"]
    PERSON = "person"  # person_id
    ACCOUNT = "account"  # actor (the account that did it)
    MEDIA = "media"  # detail["item_id"] (or detail["item"])
    CAMERA = "camera"  # detail["camera"]
    ZONE = "zone"  # zone_id
    INCIDENT_STEP = "incident"  # detail["incident"] and detail["step"]


def source_of(rule: Source, rec: NewRecord) -> str:
    """The source string of an alarm raised or cleared by ``rec`` (``site`` when unnamed)."""
    d = rec.detail
    if rule is Source.INCIDENT_STEP:
        if d.get("incident") is None:
            return "site"
        return f"incident:{d.get('incident')}/{d.get('step')}"
    value: object = {
        Source.DOOR: rec.door_id,
        Source.READER: rec.reader_id,
        Source.MODULE: d.get("module"),
        Source.SENSOR: d.get("sensor"),
        Source.PERSON: rec.person_id,
        Source.ACCOUNT: rec.actor,
        Source.MEDIA: d.get("item_id", d.get("item")),
        Source.CAMERA: d.get("camera"),
        Source.ZONE: rec.zone_id,
    }[rule]
    return "site" if value is None or value == "" else f"{rule.value}:{value}"


@dataclass(frozen=True, slots=True)
class Trigger:
    """A record kind, optionally narrowed by values of its ``detail`` (any of a set each)."""

    kind: RecordKind
    where: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches(self, rec: NewRecord) -> bool:
        """True when ``rec`` is of this kind and every narrowed detail value is allowed."""
        if rec.kind is not self.kind:
            return False
        return all(str(rec.detail.get(key)) in allowed for key, allowed in self.where)


def on(kind: RecordKind, **where: str | Iterable[str]) -> Trigger:
    """A Trigger: ``on(K.SENSOR_STATE, sensor_kind="smoke", state="alarm")``."""
    return Trigger(
        kind,
        tuple(
            (key, frozenset([value] if isinstance(value, str) else value))
            for key, value in sorted(where.items())
        ),
    )


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """One alarm type."""

    type: str
    priority: int  # 1 (most urgent) .. 9
    ja: str  # operator instructions, Japanese
    en: str  # operator instructions, English
    escalation_s: float | None  # unacknowledged this long: escalate to the chief; None: never
    raised_by: tuple[Trigger, ...]
    cleared_by: tuple[Trigger, ...]  # empty: an event alarm (condition ends at acknowledgement)
    source: Source
    clause: str
    silent: bool = False  # never shown at a reader or on public displays (duress)
    written_by: str = "issue 6"  # who writes the raising records (placeholders name the issue)
    notify: tuple[str, ...] = ()  # roles told at once when it is raised (not only on escalation)

    @property
    def momentary(self) -> bool:
        """True for event alarms, which nothing in the field clears."""
        return not self.cleared_by

    @property
    def instructions(self) -> dict[str, str]:
        """Instructions by language."""
        return {"ja": self.ja, "en": self.en}


def _sensor(  # noqa: PLR0917 -- one table row per call reads best positionally
    type_: str,
    priority: int,
    escalation_s: float | None,
    sensor_kind: str | Iterable[str],
    raise_states: Iterable[str],
    clear_states: Iterable[str],
    ja: str,
    en: str,
    clause: str = "4-8-7(5)",
) -> AlarmSpec:
    """An environment alarm raised and cleared by ``sensor.state`` records."""
    return AlarmSpec(
        type=type_,
        priority=priority,
        ja=ja,
        en=en,
        escalation_s=escalation_s,
        raised_by=(on(K.SENSOR_STATE, sensor_kind=sensor_kind, state=raise_states),),
        cleared_by=(on(K.SENSOR_STATE, sensor_kind=sensor_kind, state=clear_states),),
        source=Source.SENSOR,
        clause=clause,
    )


_BINARY_KINDS = (
    "smoke",
    "water_leak",
    "ups_on_battery",
    "ups_low_battery",
    "intrusion",
    "enclosure_tamper",
)
_ALL_KINDS = (*_BINARY_KINDS, "temperature", "humidity")

_SPECS: tuple[AlarmSpec, ...] = (
    # --- doors and readers (4-8-7(4)) -----------------------------------------------------
    AlarmSpec(
        "door.forced",
        2,
        "扉が施錠中に開けられました。こじ開けの恐れがあります。カメラで状況を確認し、現場に向かい、必要に応じて警備・警察に連絡してください。",
        "The door was opened while locked (forced). Check the camera, go to the door, and "
        "call security or the police if needed.",
        120,
        (on(K.DOOR_FORCED),),
        (on(K.DOOR_CLOSED),),
        Source.DOOR,
        "4-8-7(4)",
    ),
    AlarmSpec(
        "door.held",
        3,
        "扉が開放されたままです。現場で扉を閉め、共連れや物の持ち出しがないか確認してください。",
        "The door is held open. Close it on site and check nobody followed in and nothing "
        "was carried out.",
        300,
        (on(K.DOOR_HELD),),
        (on(K.DOOR_CLOSED),),
        Source.DOOR,
        "4-8-7(4)",
    ),
    AlarmSpec(
        "door.held_prealarm",
        5,
        "扉の開放時間が上限に近づいています。入退室中の方に扉を閉めるよう促してください。",
        "The door has been open nearly too long. Ask the person at the door to close it.",
        None,
        (on(K.DOOR_HELD_PREALARM),),
        (on(K.DOOR_CLOSED), on(K.DOOR_HELD)),
        Source.DOOR,
        "4-8-7(4)",
    ),
    AlarmSpec(
        "door.fault",
        3,
        "扉の入出力モジュールと通信できません。錠はフェイルセキュアで施錠状態です。配線と電源を点検してください。",
        "The door's I/O module cannot be reached; the lock is left fail-secure. Check wiring "
        "and power.",
        300,
        (on(K.DOOR_FAULT),),
        (on(K.DOOR_FAULT_CLEARED),),
        Source.DOOR,
        "4-8-7(5)",
    ),
    AlarmSpec(
        "reader.tamper",
        2,
        "カードリーダーのタンパースイッチが作動しました。リーダーの取り外しや改ざんがないか現場で確認してください。",
        "A reader's tamper switch tripped. Check on site that the reader was not removed or "
        "tampered with.",
        120,
        (on(K.READER_TAMPER),),
        (on(K.READER_TAMPER_CLEARED),),
        Source.READER,
        "4-8-7(4)",
    ),
    AlarmSpec(
        "reader.offline",
        3,
        "カードリーダーが応答しません。配線の切断や取り外しがないか点検してください。",
        "A reader stopped answering. Check its wiring for cuts and that it is still mounted.",
        300,
        (on(K.READER_OFFLINE),),
        (on(K.READER_ONLINE),),
        Source.READER,
        "4-8-7(5)",
    ),
    AlarmSpec(
        "module.offline",
        2,
        "入出力モジュールと通信できません。扉・センサーの監視が止まっています。配線と電源を直ちに点検してください。",
        "An I/O module cannot be reached: its doors and sensors are not supervised. Check "
        "wiring and power at once.",
        120,
        (on(K.MODULE_OFFLINE),),
        (on(K.MODULE_ONLINE),),
        Source.MODULE,
        "4-8-7(5)",
    ),
    AlarmSpec(
        "system.storage_unavailable",
        1,
        "記録データベースに書き込めません（ディスク容量不足・読み取り専用など）。記録はメモリに保持され、扉は施錠のままです。直ちにディスクを点検してください。",
        "The record database cannot be written (disk full, read-only, ...). Records are held "
        "in memory and grants are refused, so doors stay locked. Check the disk at once.",
        60,
        # Raised live from the recorder's StorageChanged (no record can be written then); the
        # storage_recovered record that ends the outage clears it.
        (on(K.SYSTEM, event="storage_unavailable"),),
        (on(K.SYSTEM, event="storage_recovered"),),
        Source.ZONE,
        "4-8-6(4)",
        written_by="gateway.recorder",
    ),
    AlarmSpec(
        "integration.mqtt_offline",
        3,
        "MQTTブローカーに接続できません。イベントは送信待ちとして保存されています。ブローカーとネットワークを確認してください。",
        "The MQTT broker cannot be reached: events are kept in the outbox until it returns. "
        "Check the broker and the network.",
        600,
        (on(K.MQTT_DISCONNECTED),),
        (on(K.MQTT_CONNECTED),),
        Source.ZONE,
        "4-8-7(4)",
    ),
    # --- environment and supervised inputs (4-8-7(4)(5)) ----------------------------------
    _sensor(
        "env.smoke",
        1,
        60,
        "smoke",
        ["alarm"],
        ["normal"],
        "煙を検知しました。現場を確認し、火災であれば119番に通報し、消火設備の手順に従ってください。",
        "Smoke detected. Check the room; if there is a fire call 119 and follow the "
        "suppression procedure.",
    ),
    _sensor(
        "env.water_leak",
        2,
        120,
        "water_leak",
        ["alarm"],
        ["normal"],
        "漏水を検知しました。機器への浸水を防ぐため現場を確認し、設備担当に連絡してください。",
        "Water leak detected. Check the room to keep water off the equipment and call facilities.",
    ),
    _sensor(
        "env.temperature_high",
        3,
        300,
        "temperature",
        ["high"],
        ["normal", "low"],
        "室温が上限を超えました。空調の運転状況を確認し、設備担当に連絡してください。",
        "Room temperature is above its limit. Check the air conditioning and call facilities.",
    ),
    _sensor(
        "env.temperature_low",
        4,
        600,
        "temperature",
        ["low"],
        ["normal", "high"],
        "室温が下限を下回りました。空調の設定と結露の有無を確認してください。",
        "Room temperature is below its limit. Check the air-conditioning setting and for "
        "condensation.",
    ),
    _sensor(
        "env.humidity_high",
        4,
        600,
        "humidity",
        ["high"],
        ["normal", "low"],
        "湿度が上限を超えました。結露・漏水の有無と空調を確認してください。",
        "Humidity is above its limit. Check for condensation or leaks and the air conditioning.",
    ),
    _sensor(
        "env.humidity_low",
        4,
        600,
        "humidity",
        ["low"],
        ["normal", "high"],
        "湿度が下限を下回りました。静電気に注意し、加湿設備を確認してください。",
        "Humidity is below its limit. Beware of static discharge and check the humidifier.",
    ),
    _sensor(
        "env.ups_on_battery",
        3,
        300,
        "ups_on_battery",
        ["alarm"],
        ["normal"],
        "UPSがバッテリー運転に切り替わりました。商用電源の状況を確認し、停止手順の準備をしてください。",
        "The UPS is on battery. Check mains power and prepare the shutdown procedure.",
    ),
    _sensor(
        "env.ups_low_battery",
        2,
        120,
        "ups_low_battery",
        ["alarm"],
        ["normal"],
        "UPSのバッテリー残量が低下しています。手順に従い機器を安全に停止してください。",
        "UPS battery low. Shut equipment down safely following the procedure.",
    ),
    _sensor(
        "env.intrusion",
        2,
        120,
        "intrusion",
        ["alarm"],
        ["normal"],
        "人感センサーが侵入を検知しました。入室記録とカメラを確認し、現場に向かってください。",
        "The intrusion (PIR) sensor detected someone. Check the entry records and the camera, "
        "and go to the room.",
        "4-8-7(4)",
    ),
    _sensor(
        "env.enclosure_tamper",
        2,
        120,
        "enclosure_tamper",
        ["alarm"],
        ["normal"],
        "ラックまたは制御盤の筐体タンパーが作動しました。開扉の権限と作業予定を確認してください。",
        "An enclosure (rack or panel) tamper switch tripped. Check who may open it and "
        "whether work was planned.",
        "4-8-7(4)",
    ),
    _sensor(
        "env.wiring_fault",
        2,
        120,
        _ALL_KINDS,
        ["open", "short"],
        ["normal", "alarm", "high", "low"],
        "監視配線に断線または短絡があります。センサーが機能していません。直ちに配線を点検してください。",
        "A supervised loop is cut (open) or shorted: the sensor is blind. Inspect the wiring "
        "at once.",
    ),
    _sensor(
        "env.sensor_fault",
        3,
        300,
        _ALL_KINDS,
        ["fault"],
        ["normal", "alarm", "high", "low"],
        "センサーの値が有効範囲外です。センサーの故障・取り外しを点検してください。",
        "A sensor reports a value outside its valid range. Check it for failure or removal.",
    ),
    # --- records and analysis -------------------------------------------------------------
    AlarmSpec(
        "audit.bulk_export",
        2,
        "設定量を超える記録がダウンロードされました。実施者と目的を確認してください。",
        "More records than the set limit were downloaded. Check who did it and why.",
        300,
        (on(K.AUDIT_BULK_EXPORT_ALERT),),
        (),
        Source.ACCOUNT,
        "4-8-6(5)",
        written_by="issue 4",
        notify=("chief",),  # 4-8-6(5): an alert to the chief, at once
    ),
    # --- placeholders: raised by records the named issues write --------------------------
    AlarmSpec(
        "access.anti_passback",
        4,
        "アンチパスバック違反です。カードの貸し借りや共連れがないか確認してください。",
        "Anti-passback violation. Check for lent cards or tailgating.",
        600,
        (on(K.ACCESS_ANTI_PASSBACK),),
        (),
        Source.PERSON,
        "4-8-7(1)",
        written_by="issue 3",
    ),
    AlarmSpec(
        "access.tailgating",
        3,
        "共連れの疑いがあります。カメラで通過人数を確認してください。",
        "Suspected tailgating. Count the people who passed on the camera.",
        300,
        (on(K.ACCESS_TAILGATING),),
        (),
        Source.DOOR,
        "4-8-7(1)",
        written_by="issue 3",
    ),
    AlarmSpec(
        "access.duress",
        1,
        "脅迫コードが入力されました。本人に気付かれないよう、直ちに警備・警察に連絡してください。",
        "A duress code was entered. Without alerting anyone at the door, call security and "
        "the police at once.",
        60,
        (on(K.ACCESS_DURESS),),
        (),
        Source.DOOR,
        "4-8-7(4)",
        silent=True,
        written_by="issue 3",
        notify=("chief",),
    ),
    AlarmSpec(
        "escort.astray",
        2,
        "同行者が退室したのに外部者が区域内に残っています。直ちに同行者または職員を向かわせてください。",
        "An outsider is in a zone their escort has left. Send the escort or staff at once.",
        180,
        (on(K.ESCORT_ASTRAY),),
        (on(K.ESCORT_ASTRAY_CLEARED),),
        Source.PERSON,
        "4-8-7(1)",
        written_by="issue 3",
    ),
    AlarmSpec(
        "zone.lone_occupant",
        3,
        "区域内に一人だけの在室が続いています。安否と作業内容を確認してください。",
        "One person has been alone in the zone too long. Check on them and on the work.",
        600,
        (on(K.ZONE_LONE_OCCUPANT),),
        (on(K.ZONE_LONE_OCCUPANT_CLEARED),),
        Source.ZONE,
        "4-8-7(1)",
        written_by="issue 3",
    ),
    AlarmSpec(
        "media.overdue",
        3,
        "媒体が返却期限を過ぎても保管場所に戻っていません。持出者と所在を確認してください。",
        "A media item is past its return date and not back home. Find the holder and the item.",
        3600,
        (on(K.MEDIA_OVERDUE),),
        (on(K.MEDIA_RETURNED),),
        Source.MEDIA,
        "4-8-5(6)",
        written_by="issue 5",
    ),
    AlarmSpec(
        "media.unapproved",
        2,
        "承認のない媒体の持込み・持出し（未登録の媒体を含む）を出入口で検知しました。媒体を預かり、保護管理者に報告してください。",
        "A media movement without approval (or an unregistered item) was caught at the door. "
        "Hold the item and report to the zone's manager.",
        300,
        (on(K.MEDIA_UNAPPROVED),),
        (),
        Source.MEDIA,
        "4-8-5(4)",
        written_by="issue 5",
        notify=("manager",),  # 4-8-5(4): the manager's leave was not asked
    ),
    AlarmSpec(
        "media.unreconciled_exit",
        2,
        "持ち込んだ媒体の検査を受けずに区域から退室した人がいます。本人と媒体の所在を確認し、出口で検査してください。",
        "Someone left the zone with an item they carried in, without its inspection at the "
        "door. Find the person and the item, and inspect it out.",
        300,
        (on(K.MEDIA_UNRECONCILED_EXIT),),
        (on(K.MEDIA_MOVED),),  # the item inspected out (any ledger movement of it)
        Source.MEDIA,
        "4-8-7(1)",
        written_by="issue 5",
    ),
    AlarmSpec(
        "media.missing",
        2,
        "棚卸しで、台帳上この保管場所にあるはずの媒体が見つかりませんでした。所在を確認し、保護管理者に報告してください。",
        "An inventory did not find an item the ledger has at home here. Search for it and "
        "report to the zone's manager.",
        3600,
        (on(K.MEDIA_FINDING, finding="missing"),),
        (),
        Source.MEDIA,
        "4-8-12(2)",
        written_by="issue 5",
        notify=("manager",),
    ),
    AlarmSpec(
        "visit.overstay",
        3,
        "来訪者の訪問時間が終わりましたが、退館の手続きがされていません（在室中、または来訪者カード未返却）。所在を確認し、同行者・受入担当者に連絡してください。",
        "A visit's time is over but the visitor has not checked out (still inside, or the "
        "visitor badge not handed back). Find the visitor; call the escort or the host.",
        900,
        (on(K.VISIT_OVERSTAY),),
        (on(K.VISIT_CHECKED_OUT),),
        Source.PERSON,
        "4-8-7(1)",
        written_by="issue 5",
    ),
    AlarmSpec(
        "camera.fault",
        3,
        "カメラの映像が途絶えているか、静止している、または覆い・黒画面・スプレーで遮られています。現場でカメラを確認し、電源と配線を点検してください。",
        "A camera stopped delivering images, or its picture is frozen or blinded (covered, "
        "black, sprayed). Check the camera on site, its power and cabling.",
        600,
        (on(K.CAMERA_FAULT),),
        (on(K.CAMERA_FAULT_CLEARED),),
        Source.CAMERA,
        "4-8-7(4)",
        written_by="issue 7",
    ),
    AlarmSpec(
        "camera.motion_in_empty_zone",
        2,
        "在室者がいないはずの区域でカメラが動きを検知しました。静止画と入室記録を確認し、現場に向かってください。",
        "A camera saw motion in a zone where nobody is inside. Check the snapshot and the "
        "entry records, and go to the room.",
        120,
        (on(K.CAMERA_MOTION_EMPTY),),
        (),
        Source.ZONE,
        "4-8-7(4)",
        written_by="issue 7",
    ),
    AlarmSpec(
        "incident.step_overdue",
        2,
        "インシデントの法定報告「速報・確報」の期限を過ぎています。総括保護管理者に報告し、直ちに対応してください。",
        "A legal reporting step of an incident (preliminary or final report) is overdue. "
        "Tell the chief and act now.",
        3600,
        (on(K.INCIDENT_STEP_OVERDUE),),
        (on(K.INCIDENT_STEP_DONE),),
        Source.INCIDENT_STEP,
        "4-8-11(6)(7)",
    ),
)

CATALOGUE: Mapping[str, AlarmSpec] = {spec.type: spec for spec in _SPECS}
