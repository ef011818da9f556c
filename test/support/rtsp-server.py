#!/usr/bin/python3
"""Loopback RTSP test server (gst-rtsp-server) for the ingest tests.

Usage: /usr/bin/python3 rtsp-server.py PORT [--path /live] [--file CLIP.mp4] [--exit-on-stdin-eof]
                                            [--user U --password P] [--size 320x240] [--fps 15]
Serves H.264 over RTSP on 127.0.0.1:PORT. Without --file it streams a live videotestsrc, so
every client sees a real-time source; --file loops nothing (the clip plays once per client).
Prints "READY <port>" on stdout once listening. Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-{base,good,bad,ugly}, gstreamer1.0-libav, gstreamer1.0-rtsp.
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--path", default="/live")
    ap.add_argument("--file")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="quit when the parent (holding our stdin) dies")
    args = ap.parse_args()

    Gst.init(None)
    width, height = (int(v) for v in args.size.split("x"))
    if args.file:
        launch = (
            f'( filesrc location="{args.file}" ! qtdemux ! h264parse config-interval=-1 '
            f"! rtph264pay name=pay0 pt=96 )"
        )
    else:
        # Short GOP so a (re)connecting client gets a keyframe quickly.
        launch = (
            f"( videotestsrc is-live=true pattern=ball "
            f"! video/x-raw,width={width},height={height},framerate={args.fps}/1 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
            f"! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(not args.file)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        sys.exit(2)
    loop = GLib.MainLoop()
    if args.exit_on_stdin_eof:
        def on_stdin(fd, _cond):
            if not os.read(fd, 4096):
                loop.quit()
                return False
            return True

        GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, on_stdin)
    print(f"READY {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
