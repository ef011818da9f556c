import type { FfmpegInfo } from './binary.ts';
import { PROTOCOL_WHITELIST, type ParsedSource } from './source-url.ts';

/**
 * Demuxers allowed for files (`-format_whitelist`). Without it ffmpeg happily "plays" a .txt file through
 * its tty demuxer, and exotic demuxers are needless attack surface for untrusted uploads.
 */
export const FILE_DEMUXERS = 'mov,matroska,avi,mpegts,mpeg,flv,asf,ogg,h264,hevc,mjpeg,m4v,mpegvideo,nut,ivf,dv,mxf,gif,yuv4mpegpipe,rm,wtv';

/** What {@link buildFfmpegArgs} needs. */
export interface ArgsOptions {
  /** Output frame rate, frames/s. */
  readonly fps: number;
  /** Maximum output width, px; never upscaled; output dimensions are even. */
  readonly maxWidth: number;
  /** Files: read at native speed (`-re`). */
  readonly realtime: boolean;
  /** Files: loop forever (`-stream_loop -1`). */
  readonly loop: boolean;
  /** Socket I/O timeout for network sources, ms. */
  readonly connectTimeoutMs: number;
  /** RTSP lower transport. */
  readonly rtspTransport: 'tcp' | 'udp';
}

/** ffmpeg input and output options for one session (the input itself is `source.input`). */
export function buildFfmpegArgs(source: ParsedSource, info: FfmpegInfo, o: ArgsOptions): { inputOptions: string[]; outputOptions: string[] } {
  const timeoutUs = String(Math.round(o.connectTimeoutMs * 1000));
  // -xerror: stop on the first error instead of limping on, so faults surface as exits we can classify.
  const inputOptions = ['-hide_banner', '-nostats', '-nostdin', '-loglevel', 'info', '-xerror', '-protocol_whitelist', PROTOCOL_WHITELIST[source.kind]];
  switch (source.kind) {
    case 'file':
      inputOptions.push('-format_whitelist', FILE_DEMUXERS);
      if (o.realtime) inputOptions.push('-re');
      if (o.loop) inputOptions.push('-stream_loop', '-1');
      break;
    case 'rtsp':
    case 'rtsps':
      // rtsps runs over TLS on TCP; UDP transport does not apply.
      inputOptions.push('-rtsp_transport', source.kind === 'rtsps' ? 'tcp' : o.rtspTransport, info.rtspTimeoutOption, timeoutUs);
      break;
    case 'http':
    case 'hls':
      inputOptions.push('-timeout', timeoutUs);
      break;
  }
  const fps = Number.isInteger(o.fps) ? String(o.fps) : o.fps.toFixed(6);
  const maxW = Math.floor(o.maxWidth / 2) * 2;
  // Width: the source's, capped at maxWidth, rounded down to even; height follows the aspect ratio, even (-2).
  const vf = `fps=${fps},scale=w='trunc(min(iw\\,${maxW})/2)*2':h=-2:flags=bilinear`;
  // -flush_packets 1: write each frame to the pipe as soon as it is encoded. Without it ffmpeg's output buffer holds
  // a frame until the next one pushes it out: every frame reached us ~one frame interval (130-200 ms at 5 fps) late.
  const outputOptions = ['-map', '0:v:0', '-an', '-sn', '-dn', '-vf', vf, '-pix_fmt', 'rgb24', '-flush_packets', '1', '-f', 'rawvideo'];
  return { inputOptions, outputOptions };
}
