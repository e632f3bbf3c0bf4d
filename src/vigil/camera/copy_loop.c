/* The recorder's copy loop in C (decision 0079), driven from Python through ctypes.
 *
 * Per packet, without the interpreter: read the camera's RTSP stream, place each video packet
 * against the wall-clock anchor Python set (a step or drift past the limits is returned as
 * VCL_STEP), and mux it by stream copy into the open segment. Python runs once a keyframe
 * (VCL_KEYFRAME: anchor, open or cut a segment, disk guard; then VCL_WRITTEN once it is
 * written: index, fsync) and, while a live view is watched (`per_packet`), once a packet
 * (VCL_PACKET). Every byte of a segment goes through the write callback Python gave
 * `vcl_segment_begin`, which writes, hashes and reports a full disk; a callback that fails
 * makes the loop return VCL_WRITE_FAILED.
 *
 * One camera per `vcl_camera`, used by one thread at a time; `stop` and `per_packet` may be
 * set from any thread. The struct is mirrored by `_Camera` in copy_loop.py (field for field;
 * `vcl_camera_size` lets Python check).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <libavformat/avformat.h>
#include <libavutil/avutil.h>

enum {
    VCL_KEYFRAME = 1,     /* a keyframe waits (ts): anchor, open or cut, then vcl_next */
    VCL_STEP = 2,         /* a timestamp discontinuity (step, drift): close the segment */
    VCL_PACKET = 3,       /* per_packet: a video packet written (data, size, pts, dts, key) */
    VCL_END = 4,          /* the source ended */
    VCL_ERROR = 5,        /* error: an AVERROR, or VCL_NO_VIDEO */
    VCL_STOPPED = 6,      /* stop was set */
    VCL_WRITE_FAILED = 7, /* the write callback failed (Python holds the reason) */
    VCL_WRITTEN = 8,      /* the keyframe of the last VCL_KEYFRAME is written (its fragment
                           * before it is in the file) */
};
#define VCL_NO_VIDEO 1 /* connected, other streams flowing, no video for watchdog_s */

#define IO_BUFFER (256 * 1024)
#define MAX_UNSTAMPED 8
#define MAX_HELD 1024
#define MAX_HELD_BYTES (8 << 20)

typedef int (*vcl_write_fn)(void *opaque, uint8_t *buf, int size);
typedef int64_t (*vcl_seek_fn)(void *opaque, int64_t offset, int whence);

typedef struct {
    /* set by Python before vcl_open */
    double open_timeout_s, read_timeout_s, watchdog_s;
    double max_backstep_s, max_jump_s, max_drift_s;
    int32_t tcp, hold_gop;
    /* set by Python at any time */
    volatile int32_t stop, per_packet;
    /* the wall-clock anchor, set by Python at VCL_KEYFRAME (anchored = 0 drops it) */
    int32_t anchored;
    int32_t live_epoch; /* Python counts up when its live feed starts over: send the GOP */
    double anchor_at, anchor_ts;
    /* the stream, set by vcl_open */
    char codec[32];
    int32_t width, height, tb_num, tb_den;
    double fps;
    /* counts, set per video packet */
    double last_packet_at, last_keyframe_at;
    int64_t frames, bytes;
    /* the event's packet */
    double ts, step, drift;
    int64_t pts, dts;
    uint8_t *data;
    int32_t size, key;
    /* the open segment */
    double end_s;
    int64_t packets, dts_fixed;
    int32_t error, _pad1;
    void *priv;
} vcl_camera;

enum { P_NONE, P_WRITE, P_REDO };

typedef struct {
    AVFormatContext *in, *mux;
    AVStream *src;
    int video;
    AVPacket *pkt;
    int pending, have_last;
    double last_dts_s;
    double reading_since, limit, last_video;
    int64_t frame_ticks;
    AVPacket *unstamped[MAX_UNSTAMPED + 1]; /* + the stamped packet that places them */
    int n_unstamped, n_ready; /* n_ready: unstamped packets stamped, waiting to be handled */
    /* the GOP so far, for a live view that starts watching (references, not copies) */
    AVPacket *held[MAX_HELD];
    int n_held, holding, live_on, live_epoch, emit_i, emit_n, emit_current;
    int64_t held_bytes;
    /* the segment */
    int seg_started, seg_has_last;
    int64_t base_dts, last_out_dts;
    double first_s, frame_s;
} Priv;

int vcl_camera_size(void) { return (int)sizeof(vcl_camera); }

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* FFmpeg polls this during every blocking call: a read past its limit, or a stop, ends it. */
static int interrupted(void *opaque) {
    vcl_camera *c = opaque;
    Priv *p = c->priv;
    return c->stop || (p->reading_since > 0 && mono() - p->reading_since > p->limit);
}

vcl_camera *vcl_new(void) {
    vcl_camera *c = av_mallocz(sizeof *c);
    if (!c) return NULL;
    c->priv = av_mallocz(sizeof(Priv));
    if (!c->priv) {
        av_free(c);
        return NULL;
    }
    return c;
}

static void drop_held(Priv *p) {
    for (int i = 0; i < p->n_held; i++) av_packet_free(&p->held[i]);
    p->n_held = p->emit_i = p->emit_n = 0;
    p->held_bytes = 0;
}

static void init_once(void) {
    av_log_set_level(AV_LOG_FATAL); /* failures come back as codes; PyAV is as quiet */
    avformat_network_init();        /* TLS for rtsps:// */
}

/* Open `url`; 0, or an AVERROR (error too). */
int vcl_open(vcl_camera *c, const char *url) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
    Priv *p = c->priv;
    p->in = avformat_alloc_context();
    p->pkt = av_packet_alloc();
    if (!p->in || !p->pkt) return c->error = AVERROR(ENOMEM);
    p->in->interrupt_callback.callback = interrupted;
    p->in->interrupt_callback.opaque = c;
    AVDictionary *opts = NULL;
    char us[32];
    snprintf(us, sizeof us, "%lld", (long long)(c->read_timeout_s / 2 * 1e6));
    av_dict_set(&opts, "rtsp_transport", c->tcp ? "tcp" : "udp", 0);
    av_dict_set(&opts, "timeout", us, 0); /* socket I/O timeout, as PyAV's source sets it */
    av_dict_set(&opts, "analyzeduration", "0", 0); /* codec, size and rate come from the SDP */
    av_dict_set(&opts, "probesize", "32", 0);
    p->limit = c->open_timeout_s;
    p->reading_since = mono();
    int err = avformat_open_input(&p->in, url, NULL, &opts);
    av_dict_free(&opts);
    if (err >= 0) err = avformat_find_stream_info(p->in, NULL);
    p->reading_since = 0;
    if (err < 0) return c->error = err;
    p->video = av_find_best_stream(p->in, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (p->video < 0) return c->error = p->video;
    p->src = p->in->streams[p->video];
    AVCodecParameters *par = p->src->codecpar;
    snprintf(c->codec, sizeof c->codec, "%s", avcodec_get_name(par->codec_id));
    c->width = par->width;
    c->height = par->height;
    c->tb_num = p->src->time_base.num;
    c->tb_den = p->src->time_base.den;
    AVRational rate = av_guess_frame_rate(p->in, p->src, NULL);
    c->fps = rate.num && rate.den ? av_q2d(rate) : 0;
    AVRational r = rate.num && rate.den ? rate : (AVRational){25, 1};
    p->frame_ticks = av_rescale_q(1, av_inv_q(r), p->src->time_base);
    if (p->frame_ticks < 1) p->frame_ticks = 1;
    p->limit = c->read_timeout_s;
    p->last_video = mono();
    return 0;
}

/* The source's codec parameters' extradata (H.264/H.265 parameter sets), for the live view. */
int vcl_extradata(vcl_camera *c, uint8_t **data) {
    Priv *p = c->priv;
    *data = p->src ? p->src->codecpar->extradata : NULL;
    return p->src ? p->src->codecpar->extradata_size : 0;
}

/* Start a segment: a new MP4 muxer writing through `write`/`seek` (fragment per keyframe). */
int vcl_segment_begin(vcl_camera *c, const char *comment, const char *movflags,
                      vcl_write_fn write, vcl_seek_fn seek) {
    Priv *p = c->priv;
    AVFormatContext *mux = NULL;
    int err = avformat_alloc_output_context2(&mux, NULL, "mp4", NULL);
    if (err < 0) return c->error = err;
    AVStream *out = avformat_new_stream(mux, NULL);
    uint8_t *buf = av_malloc(IO_BUFFER);
    if (!out || !buf || (err = avcodec_parameters_copy(out->codecpar, p->src->codecpar)) < 0) {
        av_free(buf);
        avformat_free_context(mux);
        return c->error = err < 0 ? err : AVERROR(ENOMEM);
    }
    out->codecpar->codec_tag = 0;
    out->time_base = p->src->time_base;
    av_dict_set(&mux->metadata, "comment", comment, 0);
    mux->pb = avio_alloc_context(buf, IO_BUFFER, 1, NULL, NULL, (void *)write, seek);
    if (!mux->pb) av_free(buf);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", movflags, 0);
    err = mux->pb ? avformat_write_header(mux, &opts) : AVERROR(ENOMEM);
    av_dict_free(&opts);
    if (err < 0) {
        if (mux->pb) av_freep(&mux->pb->buffer);
        avio_context_free(&mux->pb);
        avformat_free_context(mux);
        return c->error = err;
    }
    p->mux = mux;
    p->seg_started = p->seg_has_last = 0;
    p->frame_s = 0;
    c->end_s = 0;
    c->packets = c->dts_fixed = 0;
    return 0;
}

static void free_mux(Priv *p) {
    av_freep(&p->mux->pb->buffer);
    avio_context_free(&p->mux->pb);
    avformat_free_context(p->mux);
    p->mux = NULL;
}

/* Finish the open segment (its last fragment); 0 or an AVERROR. */
int vcl_segment_end(vcl_camera *c) {
    Priv *p = c->priv;
    if (!p->mux) return 0;
    int err = av_write_trailer(p->mux);
    free_mux(p);
    return err;
}

static void set_event_packet(vcl_camera *c, const AVPacket *pkt) {
    c->data = pkt->data;
    c->size = pkt->size;
    c->pts = pkt->pts;
    c->dts = pkt->dts;
    c->key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
}

/* The next packet a watched live view should get, if any (VCL_PACKET). */
static int emit(vcl_camera *c) {
    Priv *p = c->priv;
    if (p->emit_i < p->emit_n) {
        set_event_packet(c, p->held[p->emit_i++]);
        return VCL_PACKET;
    }
    if (p->emit_current) {
        p->emit_current = 0;
        set_event_packet(c, p->pkt);
        return VCL_PACKET;
    }
    return 0;
}

/* After a packet was written: keep it for a later viewer, hand it to a watched live view. */
static int after_write(vcl_camera *c, int key) {
    Priv *p = c->priv;
    AVPacket *pkt = p->pkt;
    if (c->hold_gop) {
        if (key) {
            drop_held(p);
            p->holding = 1;
        }
        if (p->holding && p->n_held < MAX_HELD && p->held_bytes + pkt->size <= MAX_HELD_BYTES &&
            (p->held[p->n_held] = av_packet_clone(pkt))) {
            p->held_bytes += pkt->size;
            p->n_held++;
        } else if (p->holding) {
            drop_held(p);
            p->holding = 0; /* until the next keyframe */
        }
    }
    if (!c->per_packet) {
        p->live_on = 0;
        return 0;
    }
    if ((!p->live_on || p->live_epoch != c->live_epoch) && p->holding) {
        p->emit_i = 0; /* a feed starting: the GOP so far, this packet included */
        p->emit_n = p->n_held;
    } else {
        p->emit_current = 1;
    }
    p->live_on = 1;
    p->live_epoch = c->live_epoch;
    return emit(c);
}

/* Mux the current packet into the open segment, rebased to its first packet. */
static int write_packet(vcl_camera *c) {
    Priv *p = c->priv;
    AVPacket *pkt = p->pkt;
    int64_t pts = pkt->pts, dts = pkt->dts;
    const double num = c->tb_num, den = c->tb_den;
    int key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    if (!p->mux) return after_write(c, key); /* dropped: no segment (Python unanchored) */
    if (!p->seg_started) {
        p->seg_started = 1;
        p->base_dts = dts;
        p->first_s = pts * num / den;
    }
    if (p->seg_has_last && dts <= p->last_out_dts) {
        /* jitter (reordering over UDP): the MP4 muxer refuses non-increasing dts */
        c->dts_fixed++;
        dts = p->last_out_dts + 1;
        if (pts < dts) pts = dts;
    } else if (p->seg_has_last) {
        p->frame_s = (dts - p->last_out_dts) * num / den;
    }
    p->last_out_dts = dts;
    p->seg_has_last = 1;
    double offset = pts * num / den - p->first_s;
    double end = offset + (pkt->duration ? pkt->duration * num / den : p->frame_s);
    if (end > c->end_s) c->end_s = end;
    int64_t src_pts = pkt->pts, src_dts = pkt->dts, src_duration = pkt->duration;
    int src_index = pkt->stream_index;
    AVStream *out = p->mux->streams[0];
    pkt->pts = av_rescale_q(pts - p->base_dts, p->src->time_base, out->time_base);
    pkt->dts = av_rescale_q(dts - p->base_dts, p->src->time_base, out->time_base);
    pkt->duration = av_rescale_q(pkt->duration, p->src->time_base, out->time_base);
    pkt->stream_index = 0;
    pkt->pos = -1;
    int err = av_write_frame(p->mux, pkt);
    pkt->pts = src_pts;
    pkt->dts = src_dts;
    pkt->duration = src_duration;
    pkt->stream_index = src_index;
    if (err < 0) {
        c->error = err;
        return VCL_WRITE_FAILED;
    }
    c->packets++;
    return after_write(c, key);
}

/* The current video packet, stamped: anchoring checks, then written or returned. */
static int place(vcl_camera *c, int redo) {
    Priv *p = c->priv;
    AVPacket *pkt = p->pkt;
    const double num = c->tb_num, den = c->tb_den;
    double ts = pkt->pts * num / den, dts_s = pkt->dts * num / den;
    int key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    if (!redo) {
        double now = wall();
        c->last_packet_at = now;
        if (key) c->last_keyframe_at = now;
        c->frames++;
        c->bytes += pkt->size;
        if (c->anchored && p->have_last) {
            double step = dts_s - p->last_dts_s;
            double drift = fabs(c->anchor_at + (ts - c->anchor_ts) - now);
            if (step < -c->max_backstep_s || step > c->max_jump_s || drift > c->max_drift_s) {
                c->step = step;
                c->drift = drift;
                c->ts = ts;
                p->last_dts_s = dts_s;
                p->pending = P_REDO;
                return VCL_STEP;
            }
            if (step < 0) dts_s = p->last_dts_s; /* jitter: stays in the segment */
        }
        p->last_dts_s = dts_s;
        p->have_last = 1;
    }
    if (key || !c->anchored) {
        if (!key) return 0; /* a segment starts at a keyframe */
        c->ts = ts;
        p->pending = P_WRITE;
        return VCL_KEYFRAME;
    }
    return write_packet(c);
}

/* Read the next packet into p->pkt; returns 1 for a video packet to place, 0 to skip, or an
 * event. Packets without any timestamp (RTSP's first keyframe) wait for the next stamped one,
 * which gives them the frame slots just before it. */
static int read_one(vcl_camera *c) {
    Priv *p = c->priv;
    AVPacket *pkt = p->pkt;
    av_packet_unref(pkt);
    if (p->n_ready) { /* stamped earlier: handle them in order before the one that stamped them */
        av_packet_move_ref(pkt, p->unstamped[0]);
        av_packet_free(&p->unstamped[0]);
        memmove(p->unstamped, p->unstamped + 1, MAX_UNSTAMPED * sizeof(AVPacket *));
        p->n_unstamped--;
        p->n_ready--;
        return 1;
    }
    if (c->stop) return VCL_STOPPED;
    p->reading_since = mono();
    int err = av_read_frame(p->in, pkt);
    p->reading_since = 0;
    if (c->stop) return VCL_STOPPED;
    if (err == AVERROR_EOF) return VCL_END;
    if (err < 0) {
        c->error = err;
        return VCL_ERROR;
    }
    if (pkt->stream_index != p->video || pkt->size == 0) {
        if (c->watchdog_s > 0 && mono() - p->last_video > c->watchdog_s) {
            c->error = VCL_NO_VIDEO;
            return VCL_ERROR;
        }
        return 0;
    }
    p->last_video = mono();
    if (pkt->pts == AV_NOPTS_VALUE && pkt->dts == AV_NOPTS_VALUE) {
        if (p->n_unstamped < MAX_UNSTAMPED && (p->unstamped[p->n_unstamped] = av_packet_alloc()))
            av_packet_move_ref(p->unstamped[p->n_unstamped++], pkt);
        return 0; /* never stamped past MAX_UNSTAMPED: cannot be placed in time */
    }
    if (pkt->dts == AV_NOPTS_VALUE) pkt->dts = pkt->pts;
    if (pkt->pts == AV_NOPTS_VALUE) pkt->pts = pkt->dts;
    if (!p->n_unstamped) return 1;
    int64_t step = pkt->duration ? pkt->duration : p->frame_ticks;
    for (int i = 0; i < p->n_unstamped; i++) {
        AVPacket *held = p->unstamped[i];
        held->dts = held->pts = pkt->dts - (p->n_unstamped - i) * step;
        if (!held->duration) held->duration = step;
    }
    /* this packet goes after them: keep it last in the queue */
    AVPacket *last = av_packet_alloc();
    if (!last) return 0;
    av_packet_move_ref(last, pkt);
    p->unstamped[p->n_unstamped++] = last;
    p->n_ready = p->n_unstamped;
    return read_one(c);
}

/* Run until the next event for Python (see the enum). */
int vcl_next(vcl_camera *c) {
    Priv *p = c->priv;
    int ev = emit(c);
    if (ev) return ev;
    int pending = p->pending;
    p->pending = P_NONE;
    if (pending == P_WRITE && c->anchored) return (ev = write_packet(c)) ? ev : VCL_WRITTEN;
    if (pending == P_REDO && (ev = place(c, 1))) return ev;
    for (;;) {
        int got = read_one(c);
        if (got > 1) return got;
        if (got == 1 && (ev = place(c, 0))) return ev;
    }
}

void vcl_close(vcl_camera *c) {
    if (!c) return;
    Priv *p = c->priv;
    if (p->mux) free_mux(p); /* no trailer: its writer (and callbacks) may be gone */
    drop_held(p);
    for (int i = 0; i < p->n_unstamped; i++) av_packet_free(&p->unstamped[i]);
    av_packet_free(&p->pkt);
    avformat_close_input(&p->in);
    av_free(p);
    av_free(c);
}
