#!/usr/bin/env python3
"""A pjsua2 (PJSIP's own API) caller for koe's end-to-end tests.

Calls TARGET, streams a WAV into the call (null sound device, VAD off so silence is sent too), records
what it hears, sends keys (SIP INFO application/dtmf-relay or RFC 2833), optionally puts the call on hold
and resumes it with re-INVITEs, then hangs up (or waits for the far end to). Prints one JSON object on
stdout with what happened, for the Rust test to check.
"""
import argparse
import json
import sys
import time

import pjsua2 as pj

MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}


class Call(pj.Call):
    def __init__(self, acc, wav, record):
        super().__init__(acc)
        self.wav, self.record = wav, record
        self.player = self.recorder = None
        self.confirmed = self.disconnected = False
        self.media_events = []
        self.call_id, self.last_status = None, None

    def onCallState(self, prm):
        ci = self.getInfo()
        self.call_id, self.last_status = ci.callIdString, ci.lastStatusCode
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            self.media_events.append(MEDIA_STATUS.get(mi.status, str(mi.status)))
            if mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE or self.player is not None:
                continue
            aud = self.getAudioMedia(i)
            if self.wav:
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(self.wav, pj.PJMEDIA_FILE_NO_LOOP)
                self.player.startTransmit(aud)
            if self.record:
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(self.record)
                aud.startTransmit(self.recorder)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target", help="sip:demo@127.0.0.1:5060")
    ap.add_argument("--port", type=int, required=True, help="local SIP port")
    ap.add_argument("--wav", help="audio to stream (WAV)")
    ap.add_argument("--record", help="WAV file to record what is heard")
    ap.add_argument("--keys", default="", help="keys to send, one every 600 ms")
    ap.add_argument("--dtmf", choices=["info", "rfc2833"], default="info")
    ap.add_argument("--keys-at", type=float, default=2.0, help="seconds after answer to start keys")
    ap.add_argument("--hold-at", type=float, help="seconds after answer to hold; resumes 2 s later")
    ap.add_argument("--talk", type=float, default=6.0, help="seconds after answer to hang up")
    ap.add_argument("--wait-bye", action="store_true", help="wait for the far end to hang up instead")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = 3
    cfg.logConfig.consoleLevel = 3
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:pjsua@127.0.0.1:{args.port}"
    acc = pj.Account()
    acc.create(acfg)

    call = Call(acc, args.wav, args.record)
    call.makeCall(args.target, pj.CallOpParam(True))
    report = {"confirmed": False, "keys_sent": "", "hold": None, "resume": None}
    start = time.monotonic()
    answered = None
    pending_keys = list(args.keys)
    hold_state = "none" if args.hold_at is not None else "done"

    def pump(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(10)

    def audio_status():
        return call.media_events[-1] if call.media_events else None

    while not call.disconnected and time.monotonic() - start < args.timeout:
        pump(0.05)
        if not call.confirmed:
            continue
        if answered is None:
            answered = time.monotonic()
            report["confirmed"] = True
        t = time.monotonic() - answered
        if pending_keys and t >= args.keys_at + 0.6 * len(report["keys_sent"]):
            key = pending_keys.pop(0)
            prm = pj.CallSendDtmfParam()
            prm.method = (pj.PJSUA_DTMF_METHOD_SIP_INFO if args.dtmf == "info"
                          else pj.PJSUA_DTMF_METHOD_RFC2833)
            prm.digits = key
            call.sendDtmf(prm)
            report["keys_sent"] += key
        if hold_state == "none" and t >= args.hold_at:
            call.setHold(pj.CallOpParam(True))
            hold_state = "held"
        elif hold_state == "held" and t >= args.hold_at + 2.0:
            report["hold"] = audio_status()
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(prm)
            hold_state = "resumed"
        elif hold_state == "resumed" and t >= args.hold_at + 4.0:
            report["resume"] = audio_status()
            hold_state = "done"
        if not args.wait_bye and t >= args.talk and not pending_keys and hold_state == "done":
            call.hangup(pj.CallOpParam(True))
            pump(1.0)
            break

    report.update({
        "call_id": call.call_id,
        "disconnected": call.disconnected,
        "last_status": call.last_status,
        "media_events": call.media_events,
        "elapsed_s": round(time.monotonic() - start, 2),
    })
    if call.player is not None:
        del call.player
    if call.recorder is not None:
        del call.recorder
    del call
    ep.libDestroy()
    print(json.dumps(report))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
