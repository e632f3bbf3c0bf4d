/* The floor of a copy loop written in C, for `vigil bench record --c-probe` (decision 0078).
 *
 * One process, a thread per camera, each doing what Vigil's recorder does per packet with no
 * interpreter in the way: read the RTSP stream's video packets, mux them into fragmented MP4
 * (the recorder's movflags, a fragment per keyframe, 256 KiB writes) and hash what it writes
 * with SHA-256 (the tamper evidence of decision 0001). Not part of the recorder: no reconnects,
 * no segments, no index.
 *
 * Usage: copy_loop_probe URL CAMERAS FOLDER   (writes FOLDER/cNN.mp4; stops at EOF on stdin)
 * Build: cc -O2 copy_loop_probe.c $(pkg-config --cflags --libs libavformat libavcodec
 *        libavutil libcrypto) -lpthread
 */
#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define IO_BUFFER (256 * 1024)
#define MAX_CAMERAS 1024

static volatile int stopping = 0;
static const char *url;
static const char *folder;

typedef struct {
    int fd;
    EVP_MD_CTX *sha;
} Output;

static int write_out(void *opaque, const uint8_t *buf, int size) {
    Output *out = opaque;
    for (int done = 0; done < size;) {
        ssize_t n = write(out->fd, buf + done, size - done);
        if (n <= 0) return AVERROR(EIO);
        done += n;
    }
    EVP_DigestUpdate(out->sha, buf, size);
    return size;
}

static int64_t seek_out(void *opaque, int64_t offset, int whence) {
    Output *out = opaque;
    if (whence & AVSEEK_SIZE) return -1;
    return lseek(out->fd, offset, whence & ~AVSEEK_FORCE);
}

static void *record(void *arg) {
    long camera = (long)arg;
    AVFormatContext *in = NULL, *mux = NULL;
    int err = -1;
    /* dozens of cameras connecting at once: a server may time some out, so try again, as a
     * supervisor restarting ffmpeg would */
    for (int attempt = 0; attempt < 5 && err < 0 && !stopping; attempt++) {
        AVDictionary *opts = NULL;
        av_dict_set(&opts, "rtsp_transport", "udp", 0);
        av_dict_set(&opts, "timeout", "5000000", 0);
        err = avformat_open_input(&in, url, NULL, &opts);
        av_dict_free(&opts);
        if (err >= 0 && (err = avformat_find_stream_info(in, NULL)) < 0) avformat_close_input(&in);
    }
    if (err < 0) {
        fprintf(stderr, "camera %ld: cannot open %s: %s\n", camera, url, av_err2str(err));
        return NULL;
    }
    int video = av_find_best_stream(in, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (video < 0 || avformat_alloc_output_context2(&mux, NULL, "mp4", NULL) < 0) {
        fprintf(stderr, "camera %ld: no video stream\n", camera);
        return NULL;
    }
    AVStream *source = in->streams[video], *stream = avformat_new_stream(mux, NULL);
    avcodec_parameters_copy(stream->codecpar, source->codecpar);
    stream->codecpar->codec_tag = 0;
    stream->time_base = source->time_base;

    char path[4096];
    snprintf(path, sizeof path, "%s/c%02ld.mp4", folder, camera);
    Output out = {open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), EVP_MD_CTX_new()};
    EVP_DigestInit_ex(out.sha, EVP_sha256(), NULL);
    /* the cast: FFmpeg before 7 declares the write callback's buffer without const */
    mux->pb = avio_alloc_context(av_malloc(IO_BUFFER), IO_BUFFER, 1, &out, NULL,
                                 (void *)write_out, seek_out);
    AVDictionary *movflags = NULL;
    av_dict_set(&movflags, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
    err = out.fd < 0 ? AVERROR(errno) : avformat_write_header(mux, &movflags);
    av_dict_free(&movflags);
    if (err < 0) {
        fprintf(stderr, "camera %ld: cannot write %s: %s\n", camera, path, av_err2str(err));
        return NULL;
    }

    AVPacket *pkt = av_packet_alloc();
    int64_t shift = AV_NOPTS_VALUE, last_dts = AV_NOPTS_VALUE;
    while (!stopping && (err = av_read_frame(in, pkt)) >= 0) {
        int wanted = pkt->stream_index == video && pkt->dts != AV_NOPTS_VALUE &&
                     pkt->pts != AV_NOPTS_VALUE &&
                     (shift != AV_NOPTS_VALUE || (pkt->flags & AV_PKT_FLAG_KEY));
        if (wanted) {
            av_packet_rescale_ts(pkt, source->time_base, stream->time_base);
            if (shift == AV_NOPTS_VALUE) shift = -pkt->dts;  /* the file starts at 0 */
            /* A source whose timestamps step back (a server restarting them) goes on one
             * tick later, where the recorder would start a new segment: either way every
             * packet is written. */
            if (last_dts != AV_NOPTS_VALUE && pkt->dts + shift <= last_dts)
                shift = last_dts + 1 - pkt->dts;
            pkt->pts += shift;
            pkt->dts += shift;
            last_dts = pkt->dts;
            pkt->stream_index = 0;
            if ((err = av_write_frame(mux, pkt)) < 0) break;
        }
        av_packet_unref(pkt);
    }
    if (!stopping) fprintf(stderr, "camera %ld: stopped early: %s\n", camera, av_err2str(err));
    av_write_trailer(mux);
    avio_context_free(&mux->pb);
    avformat_free_context(mux);
    avformat_close_input(&in);
    av_packet_free(&pkt);
    EVP_MD_CTX_free(out.sha);
    close(out.fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s URL CAMERAS FOLDER\n", argv[0]);
        return 2;
    }
    url = argv[1];
    folder = argv[3];
    long cameras = atol(argv[2]);
    if (cameras < 1 || cameras > MAX_CAMERAS) {
        fprintf(stderr, "CAMERAS must be 1..%d\n", MAX_CAMERAS);
        return 2;
    }
    av_log_set_level(AV_LOG_FATAL);
    avformat_network_init();
    pthread_t threads[MAX_CAMERAS];
    for (long i = 0; i < cameras; i++) {
        pthread_create(&threads[i], NULL, record, (void *)i);
        usleep(20000);  /* cameras join one by one, as the bench starts ffmpeg's */
    }
    while (getchar() != EOF) {
    }
    stopping = 1;  /* each thread ends at its next packet */
    for (long i = 0; i < cameras; i++) pthread_join(threads[i], NULL);
    return 0;
}
