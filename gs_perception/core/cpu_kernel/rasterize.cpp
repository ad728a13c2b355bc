// Fused CPU rasteriser for projected Gaussians: forward and backward of
// gs_perception.core.rasterize.rasterize_tiled, with the same per-pixel semantics.
//
// Layout: Gaussians are binned into `bin` x `bin` pixel tiles (camera-major, depth-sorted lists in CSR
// form). Each tile is one OpenMP task; inside it the loop is Gaussian-outer, pixel-inner, and a Gaussian is
// only evaluated where it can contribute, kLanes pixels of a row at a time in SIMD-friendly loops over
// per-tile structure-of-arrays pixel state (masks and selects, no per-pair branches). The screen box is
// rounded out to the torch backend's tile grid (`gran`) as the torch backend does; inside it, each row is cut
// to the Gaussian's footprint, the ellipse outside which its alpha is below alpha_min (a conservative
// superset, see Footprint), and tiles the footprint misses get no list entry. Pairs outside the footprint
// fail the per-pair alpha test anyway, so culling changes no output bit (a test holds the culled and the
// unculled kernel together). A tile stops once all its pixels have run out of transmittance; the backward
// starts each tile at its pixels' largest last composited rank.
//
// Determinism: the backward writes one partial gradient per list entry (a Gaussian appears at most once per
// tile, so tiles never share an entry), then reduces the entries into per-Gaussian gradients serially in
// list order. Nothing depends on the thread schedule, so two runs give bitwise equal gradients.

#include <torch/extension.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

namespace {

struct Params {
  int64_t C, N, D, W, H;
  int64_t gran;     // torch backend's tile edge: boxes are rounded out to this grid
  int64_t bin;      // our tile edge
  int64_t tiles_x, tiles_y;
  double alpha_max, alpha_min, transmittance_min;
  bool cull;        // cut rows and tiles to the footprint (false: the whole box, the slow twin)
  int64_t n_tiles() const { return tiles_x * tiles_y; }
};

// Pixel box [x0, x1) x [y0, y1) of one Gaussian: means2d +- radii, rounded out to the `gran` grid and
// clipped to the image, computed in the input dtype as the torch backend does. Empty when not visible.
template <typename T>
void pixel_box(const T* mean, const int32_t* radius, const Params& p, int32_t* box) {
  box[0] = box[1] = box[2] = box[3] = 0;
  if (radius[0] <= 0 || radius[1] <= 0) return;
  const T g = static_cast<T>(p.gran);
  const int64_t gx = (p.W + p.gran - 1) / p.gran, gy = (p.H + p.gran - 1) / p.gran;
  auto cell = [](T v, int64_t hi) -> int64_t {
    if (std::isnan(v)) return 0;  // keeps the box empty rather than casting NaN to an integer
    return static_cast<int64_t>(std::min(std::max(v, T(0)), static_cast<T>(hi)));
  };
  const int64_t x0 = cell(std::floor((mean[0] - static_cast<T>(radius[0])) / g), gx);
  const int64_t x1 = cell(std::ceil((mean[0] + static_cast<T>(radius[0])) / g), gx);
  const int64_t y0 = cell(std::floor((mean[1] - static_cast<T>(radius[1])) / g), gy);
  const int64_t y1 = cell(std::ceil((mean[1] + static_cast<T>(radius[1])) / g), gy);
  if (x1 <= x0 || y1 <= y0) return;
  box[0] = static_cast<int32_t>(x0 * p.gran);
  box[1] = static_cast<int32_t>(std::min(x1 * p.gran, p.W));
  box[2] = static_cast<int32_t>(y0 * p.gran);
  box[3] = static_cast<int32_t>(std::min(y1 * p.gran, p.H));
}

// The region where a Gaussian can reach alpha_min: opacity exp(-sigma) >= alpha_min, i.e. the ellipse
// sigma = 0.5 (a dx^2 + c dy^2) + b dx dy <= tau = ln(opacity / alpha_min), computed in double and widened
// so that it holds every pixel the kernel's own test in T could keep:
//  - the kernel's sigma carries rounding of about eps |terms| <= eps sigma (1 + rho) / (1 - rho), with
//    rho = |b| / sqrt(a c); K = (tau + 0.01) / (1 - rel) covers it and exp_lanes' ulp (the 0.01);
//  - then 0.01 px of displacement, against the last bits of the double arithmetic here (sqrt(sigma) is a
//    norm: sqrt(K') = sqrt(K) + 0.01 sqrt(lambda_max / 2) reaches every point within 0.01 px).
// (The float rounding of dx and dy in the kernel is relative, and inside rel.)
// When rel is not small (conics that are nearly degenerate, not positive definite or NaN), or culling is
// off, the footprint is the whole screen box.
struct Footprint {
  double mx, my, a, b, inv_a, bb_ac, k2;  // the ellipse a dx^2 + 2 b dx dy + c dy^2 <= k2 (k2 = 2 K')
  double dx_top, dy_top;  // its rightmost point's offset from the centre; the leftmost is the negative
  double ry;              // its half height
  int32_t box[4];         // [x0, x1) x [y0, y1): the screen box cut to the ellipse's bounding box
  int32_t lane0;          // the screen box's left edge, uncut: where the backward's lanes are counted from
  bool ellipse;           // false: the whole screen box, every row in full
};

inline int32_t clamp_to(double v, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(std::min(std::max(v, static_cast<double>(lo)), static_cast<double>(hi)));
}

template <typename T>
Footprint make_footprint(const T* mean, const T* conic, T opacity, const int32_t* radius, const Params& p) {
  Footprint f{};
  f.mx = mean[0];
  f.my = mean[1];
  pixel_box<T>(mean, radius, p, f.box);
  f.lane0 = f.box[0];
  const double a = conic[0], b = conic[1], c = conic[2], op = opacity;
  if (!p.cull || f.box[1] <= f.box[0] || f.box[3] <= f.box[2] || !(a > 0) || !(c > 0) || !(op > 0) ||
      !(p.alpha_min > 0))
    return f;
  const double rho = std::abs(b) / std::sqrt(a * c);
  const double rel = 8.0 * std::numeric_limits<T>::epsilon() / std::max(1.0 - rho, 0.0);
  const double tau = std::log(op / p.alpha_min);
  if (!(rel < 0.1) || !std::isfinite(tau)) return f;
  if (tau + 0.01 <= 0) {  // opacity below alpha_min: reaches it nowhere
    std::fill(f.box, f.box + 4, 0);
    return f;
  }
  const double k = (tau + 0.01) / (1.0 - rel), det = a * c - b * b;
  const double lambda_max = 0.5 * (a + c) + std::sqrt(0.25 * (a - c) * (a - c) + b * b);
  const double root = std::sqrt(k) + 0.01 * std::sqrt(0.5 * lambda_max);
  f.a = a;
  f.b = b;
  f.inv_a = 1.0 / a;
  f.bb_ac = -det;
  f.k2 = 2.0 * root * root;
  f.dx_top = std::sqrt(f.k2 * c / det);  // sqrt(k2 Sigma_xx), Sigma = Q^-1
  f.dy_top = -b / c * f.dx_top;          // Sigma_xy / Sigma_xx times dx_top
  f.ry = std::sqrt(f.k2 * a / det);
  // Pixel x is in when its centre x + 0.5 is, as in ellipse_x.
  const int32_t x0 = clamp_to(std::ceil(f.mx - f.dx_top - 0.5), f.box[0], f.box[1]);
  const int32_t x1 = clamp_to(std::floor(f.mx + f.dx_top - 0.5) + 1.0, x0, f.box[1]);
  const int32_t y0 = clamp_to(std::ceil(f.my - f.ry - 0.5), f.box[2], f.box[3]);
  const int32_t y1 = clamp_to(std::floor(f.my + f.ry - 0.5) + 1.0, y0, f.box[3]);
  f.box[0] = x0;
  f.box[1] = x1;
  f.box[2] = y0;
  f.box[3] = y1;
  if (x1 <= x0 || y1 <= y0) std::fill(f.box, f.box + 4, 0);
  f.ellipse = true;
  return f;
}

inline bool is_empty(const Footprint& f) { return f.box[1] <= f.box[0] || f.box[3] <= f.box[2]; }

// The pixels [lo, hi) whose centres x + 0.5 lie in the ellipse at pixel-centre offset dy, clamped to
// [x0, x1]. dy must lie within +-ry (up to rounding).
inline void ellipse_x(const Footprint& f, double dy, int32_t x0, int32_t x1, int32_t& lo, int32_t& hi) {
  const double disc = std::max(f.bb_ac * dy * dy + f.a * f.k2, 0.0);  // of a dx^2 + 2 b dy dx + c dy^2 = k2
  const double r = std::sqrt(disc) * f.inv_a, centre = f.mx - f.b * dy * f.inv_a;
  lo = clamp_to(std::ceil(centre - r - 0.5), x0, x1);
  hi = clamp_to(std::floor(centre + r - 0.5) + 1.0, lo, x1);
}

// Calls f(tile) for the tiles (within the camera) that a Gaussian's footprint reaches, row band by row band.
// Within a band of pixel-centre offsets [dy0, dy1], the ellipse's right edge is highest at the clamp of
// dy_top into the band (the edge is concave in dy), and its left edge lowest at the clamp of -dy_top.
template <typename F>
void for_each_tile(const Footprint& fp, const Params& p, F&& f) {
  const int32_t* box = fp.box;
  for (int64_t ty = box[2] / p.bin; ty < (box[3] + p.bin - 1) / p.bin; ++ty) {
    int32_t lo = box[0], hi = box[1];
    if (fp.ellipse) {
      const double y0 = std::max<int64_t>(box[2], ty * p.bin), y1 = std::min<int64_t>(box[3], (ty + 1) * p.bin);
      const double dy0 = std::max(y0 + 0.5 - fp.my, -fp.ry), dy1 = std::min(y1 - 0.5 - fp.my, fp.ry);
      if (dy1 < dy0) continue;
      int32_t unused;
      ellipse_x(fp, std::min(std::max(-fp.dy_top, dy0), dy1), box[0], box[1], lo, unused);
      ellipse_x(fp, std::min(std::max(fp.dy_top, dy0), dy1), box[0], box[1], unused, hi);
    }
    for (int64_t tx = lo / p.bin; tx < (hi + p.bin - 1) / p.bin; ++tx) f(ty * p.tiles_x + tx);
  }
}

struct Bins {
  at::Tensor footprints;  // [C * N * sizeof(Footprint)] bytes: one Footprint per (camera, Gaussian)
  at::Tensor offsets;     // [C * n_tiles + 1] int64 CSR offsets into `ids`
  at::Tensor ids;         // [M] int32 Gaussian index within its camera, depth-sorted per tile
  const Footprint* fp() const { return reinterpret_cast<const Footprint*>(footprints.data_ptr<uint8_t>()); }
};

// Depth-sorted (stable, ties by index) per-tile lists of the Gaussians whose footprint reaches each tile.
template <typename T>
Bins bin_gaussians(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
                   const at::Tensor& radii, const at::Tensor& depths, const Params& p) {
  const int64_t C = p.C, N = p.N, NT = p.n_tiles();
  at::Tensor footprints = at::empty({C * N * static_cast<int64_t>(sizeof(Footprint))}, at::kByte);
  auto* fps = reinterpret_cast<Footprint*>(footprints.data_ptr<uint8_t>());
  std::vector<std::vector<int32_t>> order(C);
  std::vector<int64_t> counts(C * NT + 1, 0);
  const T* mean = means2d.data_ptr<T>();
  const int32_t* rad = radii.data_ptr<int32_t>();
  const T* depth = depths.data_ptr<T>();
  const T* con = conics.data_ptr<T>();
  const T* opa = opacities.data_ptr<T>();

#pragma omp parallel for schedule(dynamic) num_threads(at::get_num_threads())
  for (int64_t c = 0; c < C; ++c) {
    std::vector<int32_t>& ord = order[c];
    for (int64_t i = 0; i < N; ++i) {
      const int64_t g = c * N + i;
      fps[g] = make_footprint<T>(mean + g * 2, con + g * 3, opa[g], rad + g * 2, p);
      if (!is_empty(fps[g])) ord.push_back(static_cast<int32_t>(i));
    }
    const T* d = depth + c * N;
    // NaN depths sort last (like torch.argsort) and keep the comparator a strict weak order.
    auto key = [d](int32_t i) { return std::isnan(d[i]) ? std::numeric_limits<T>::infinity() : d[i]; };
    std::stable_sort(ord.begin(), ord.end(), [&](int32_t a, int32_t b) { return key(a) < key(b); });
    for (int32_t i : ord) for_each_tile(fps[c * N + i], p, [&](int64_t t) { ++counts[c * NT + t + 1]; });
  }
  std::partial_sum(counts.begin(), counts.end(), counts.begin());
  at::Tensor offsets = at::empty({C * NT + 1}, at::kLong);
  std::copy(counts.begin(), counts.end(), offsets.data_ptr<int64_t>());
  at::Tensor ids = at::empty({counts.back()}, at::kInt);
  int32_t* out = ids.data_ptr<int32_t>();

#pragma omp parallel for schedule(dynamic) num_threads(at::get_num_threads())
  for (int64_t c = 0; c < C; ++c) {
    std::vector<int64_t> cursor(counts.begin() + c * NT, counts.begin() + (c + 1) * NT);
    for (int32_t i : order[c]) for_each_tile(fps[c * N + i], p, [&](int64_t t) { out[cursor[t]++] = i; });
  }
  return {footprints, offsets, ids};
}

struct TileRect {
  int64_t x0, x1, y0, y1;
};

inline TileRect tile_rect(int64_t t, const Params& p) {
  const int64_t tx = t % p.tiles_x, ty = t / p.tiles_x;
  return {tx * p.bin, std::min((tx + 1) * p.bin, p.W), ty * p.bin, std::min((ty + 1) * p.bin, p.H)};
}

// Pixels are processed kLanes at a time along a row (a "chunk") in fixed-size loops, which the compiler
// turns into SIMD code (8 floats: one AVX2 register). Lanes past the Gaussian's box are computed and masked.
// Masks combine with `&`, not `&&`: a short-circuit would be control flow, which blocks vectorising.
constexpr int kLanes = 8;

// exp that vectorises, unlike std::exp: a branch-free Cody-Waite reduction x = n ln2 + r (|r| <= ln2 / 2)
// and the degree-7 Taylor polynomial of exp(r) (truncation below 0.1 ulp), about 1 ulp from the correctly
// rounded value, like torch's own vectorised exp. x is clamped to where 2^n is a normal float; NaN becomes
// the lower bound (such lanes fail the sigma >= 0 test anyway). Only IEEE basic operations, so the scalar
// and the vector code give bitwise the same value.
inline float exp_lanes(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round(x / ln2): adding 1.5 * 2^23
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;   // ln2 split so that n * 0.6933... is exact
  // Estrin's scheme: a shorter dependency chain than Horner's, for the same accuracy here.
  const float r2 = r * r, r4 = r2 * r2;
  const float p01 = 1.0f + r, p23 = 0.5f + r * (1.0f / 6.0f);
  const float p45 = 1.0f / 24.0f + r * (1.0f / 120.0f), p67 = 1.0f / 720.0f + r * (1.0f / 5040.0f);
  const float p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67);
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// float64 (the tests' gradcheck) keeps the library exp; it is not the fast path.
inline double exp_lanes(double x) { return std::exp(x); }

template <typename T>
struct Inputs {
  const T *mean, *con, *opa, *col;
  const Footprint* fp;
  int64_t D;
};

// One Gaussian as seen from one tile: its parameters, footprint and footprint box clipped to the tile.
template <typename T>
struct Splat {
  T mx, my, a, b, c, op;
  const T* color;
  const Footprint* fp;
  int64_t x0, x1, y0, y1;
};

template <typename T>
inline Splat<T> load_splat(const Inputs<T>& in, int64_t g, const TileRect& r) {
  const Footprint* fp = in.fp + g;
  const T* cg = in.con + g * 3;
  return {in.mean[g * 2], in.mean[g * 2 + 1], cg[0], cg[1], cg[2], in.opa[g], in.col + g * in.D, fp,
          std::max<int64_t>(fp->box[0], r.x0), std::min<int64_t>(fp->box[1], r.x1),
          std::max<int64_t>(fp->box[2], r.y0), std::min<int64_t>(fp->box[3], r.y1)};
}

// A Gaussian at the kLanes pixels of a chunk.
template <typename T>
struct Chunk {
  T dx[kLanes], gauss[kLanes], vis[kLanes], alpha[kLanes];
  int32_t keep[kLanes];  // sigma >= 0 and alpha >= alpha_min (NaN fails both)
};

// The operation order is the torch backend's (sigma = 0.5 (a dx dx + c dy dy) + b dx dy at pixel centres,
// with cyy = c dy dy), and the build uses -ffp-contract=off, so the forward and the backward compute bitwise
// the same alpha and `keep` for a pair. px0 is the centre (x + 0.5) of the chunk's first pixel.
template <typename T>
inline void eval_chunk(const Splat<T>& s, T px0, T dy, T cyy, T amax, T amin, Chunk<T>& ch) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const T dx = (px0 + static_cast<T>(l)) - s.mx;
    const T sigma = T(0.5) * (s.a * dx * dx + cyy) + s.b * dx * dy;
    const T gauss = exp_lanes(-sigma), vis = s.op * gauss;
    const T alpha = std::min(vis, amax);  // keeps a NaN, which the tests below reject, like torch's clamp_max
    ch.dx[l] = dx;
    ch.gauss[l] = gauss;
    ch.vis[l] = vis;
    ch.alpha[l] = alpha;
    ch.keep[l] = (sigma >= T(0)) & (alpha >= amin);
  }
}

// Calls f(chunk, n, q, dy) for the runs of up to kLanes pixels of s's footprint in tile r, row by row: the
// first n lanes are in s's box, and q is the tile-local index (rows `stride` apart) of the first pixel. A
// pixel's values do not depend on where its chunk starts (x + 0.5 + l is exact in float). With `aligned`,
// chunks start on the kLanes grid from the uncut screen box's left edge (in the tile), so each pixel lands
// in the same lane whether or not the row was cut to the footprint: the backward's per-lane sums then see
// the same additions in the same order, and the culled gradients are bitwise the unculled ones. (Lanes
// that alignment adds on the left lie in the screen box and outside the footprint: they add nothing.)
template <bool aligned, typename T, typename F>
inline void for_each_chunk(const Splat<T>& s, const TileRect& r, int64_t stride, T amax, T amin, F&& f) {
  Chunk<T> ch;
  // Cutting a row to the ellipse costs a square root; it pays only when the box is wider than a chunk.
  const bool cut = s.fp->ellipse && s.x1 - s.x0 > kLanes;
  const int32_t lane0 = static_cast<int32_t>(std::max<int64_t>(s.fp->lane0, r.x0));
  for (int64_t y = s.y0; y < s.y1; ++y) {
    int32_t x0 = static_cast<int32_t>(s.x0), x1 = static_cast<int32_t>(s.x1);
    if (cut) ellipse_x(*s.fp, (static_cast<double>(y) + 0.5) - s.fp->my, x0, x1, x0, x1);
    if (aligned) x0 = lane0 + (x0 - lane0) / kLanes * kLanes;
    const T dy = (static_cast<T>(y) + T(0.5)) - s.my;
    const T cyy = s.c * dy * dy;
    for (int64_t x = x0; x < x1; x += kLanes) {
      eval_chunk(s, static_cast<T>(x) + T(0.5), dy, cyy, amax, amin, ch);
      f(ch, static_cast<int>(std::min<int64_t>(kLanes, x1 - x)), (y - r.y0) * stride + (x - r.x0), dy);
    }
  }
}

// Row stride of the per-tile pixel buffers: a chunk may start at the last pixel of a row and run kLanes - 1
// pixels past it, into padding that no lane in a box ever touches.
inline int64_t padded_stride(const Params& p) { return p.bin + kLanes - 1; }

// Per-pixel compositing state of one tile (structure of arrays, rows padded_stride apart).
template <typename T>
struct FwdPixels {
  std::vector<T> trans, acc;  // acc: D planes of `plane` values
  std::vector<int32_t> last, done;
  int64_t plane;
  FwdPixels(int64_t plane, int64_t D) : trans(plane, T(1)), acc(plane * D, T(0)), last(plane, 0),
                                        done(plane, 0), plane(plane) {}
};

// Composites one Gaussian (list rank `rank`, 1-based) into the first n lanes of the chunk at pixel q;
// returns how many pixels it ended. Selects rather than branches, so that the loops vectorise.
template <typename T>
inline int composite_chunk(const Chunk<T>& ch, int n, int64_t q, const T* color, int64_t D, int32_t rank,
                           T tmin, FwdPixels<T>& px) {
  T* trans = px.trans.data() + q;
  int32_t* last = px.last.data() + q;
  int32_t* done = px.done.data() + q;
  T w[kLanes];
  int32_t use[kLanes];
  int ended = 0;
#pragma omp simd reduction(+ : ended)
  for (int l = 0; l < kLanes; ++l) {
    const int32_t ok = (l < n) & ch.keep[l] & (done[l] == 0);
    const T next = trans[l] * (T(1) - ch.alpha[l]);
    const int32_t stop = ok & (next <= tmin);  // the Gaussian would use the pixel up: it ends here, uncomposited
    use[l] = ok & (stop == 0);
    w[l] = ch.alpha[l] * trans[l];
    done[l] |= stop;
    ended += stop;
    trans[l] = use[l] ? next : trans[l];
    last[l] = use[l] ? rank : last[l];
  }
  for (int64_t d = 0; d < D; ++d) {
    T* acc = px.acc.data() + d * px.plane + q;
    const T cd = color[d];
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) acc[l] = use[l] ? acc[l] + w[l] * cd : acc[l];
  }
  return ended;
}

template <typename T>
void forward_kernel(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
                    const at::Tensor& colors, const std::optional<at::Tensor>& backgrounds, const Bins& bins,
                    const Params& p, at::Tensor& out_color, at::Tensor& out_alpha, at::Tensor& final_t,
                    at::Tensor& last) {
  const int64_t N = p.N, D = p.D, NT = p.n_tiles(), S = padded_stride(p);
  const Inputs<T> in{means2d.data_ptr<T>(), conics.data_ptr<T>(), opacities.data_ptr<T>(),
                     colors.data_ptr<T>(), bins.fp(), D};
  const T* bg = backgrounds ? backgrounds->data_ptr<T>() : nullptr;
  const int64_t* off = bins.offsets.data_ptr<int64_t>();
  const int32_t* ids = bins.ids.data_ptr<int32_t>();
  T* oc = out_color.data_ptr<T>();
  T* oa = out_alpha.data_ptr<T>();
  T* ft = final_t.data_ptr<T>();
  int32_t* ol = last.data_ptr<int32_t>();
  const T amax = static_cast<T>(p.alpha_max), amin = static_cast<T>(p.alpha_min);
  const T tmin = static_cast<T>(p.transmittance_min);

#pragma omp parallel for schedule(dynamic) num_threads(at::get_num_threads())
  for (int64_t ct = 0; ct < p.C * NT; ++ct) {
    const int64_t c = ct / NT;
    const TileRect r = tile_rect(ct % NT, p);
    FwdPixels<T> px(S * p.bin, D);
    int64_t active = (r.x1 - r.x0) * (r.y1 - r.y0);  // pixels not yet ended: the tile is done at 0
    for (int64_t k = off[ct]; k < off[ct + 1] && active > 0; ++k) {
      const Splat<T> s = load_splat(in, c * N + ids[k], r);
      const int32_t rank = static_cast<int32_t>(k - off[ct] + 1);
      for_each_chunk<false>(s, r, S, amax, amin, [&](const Chunk<T>& ch, int n, int64_t q, T) {
        active -= composite_chunk(ch, n, q, s.color, D, rank, tmin, px);
      });
    }
    for (int64_t y = r.y0; y < r.y1; ++y)
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const int64_t q = (y - r.y0) * S + (x - r.x0), pix = (c * p.H + y) * p.W + x;
        const T t = px.trans[q];
        for (int64_t d = 0; d < D; ++d)
          oc[pix * D + d] = px.acc[d * px.plane + q] + (bg ? bg[c * D + d] * t : T(0));
        oa[pix] = T(1) - t;
        ft[pix] = t;
        ol[pix] = px.last[q];
      }
  }
}

// Per-pixel state of one tile in the backward (structure of arrays, rows padded_stride apart): the
// transmittance (walked back up), the colour behind (sum of w c plus T_final * background, dotted with the
// colour gradient), the constant alpha-output term, the colour gradient and the forward's last rank.
template <typename T>
struct BwdPixels {
  std::vector<T> trans, behind, galpha, gout;  // gout: D planes of `plane` values
  std::vector<int32_t> last;
  int64_t plane;
  BwdPixels(int64_t plane, int64_t D) : trans(plane, T(1)), behind(plane, T(0)), galpha(plane, T(0)),
                                        gout(plane * D, T(0)), last(plane, 0), plane(plane) {}
};

// Adds one Gaussian's gradient terms at the first n lanes of the chunk at pixel q to the per-lane sums
// grad[j * kLanes + l], j < 6 + D: d/d(mean x, mean y, conic a, b, c, opacity, colour[0..D)). The pixel is
// walked back over the Gaussian, recovering the transmittance in front of it by dividing out (1 - alpha),
// as 3DGS's backward does.
template <typename T>
inline void backprop_chunk(const Chunk<T>& ch, int n, int64_t q, T dy, const Splat<T>& s, int32_t i, T amax,
                           int64_t D, BwdPixels<T>& px, T* grad) {
  T* trans = px.trans.data() + q;
  T* behind = px.behind.data() + q;
  const T* galpha = px.galpha.data() + q;
  const int32_t* last = px.last.data() + q;
  T ra[kLanes], w[kLanes], dot[kLanes];
  int32_t ok[kLanes];
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    ok[l] = (l < n) & ch.keep[l] & (i < last[l]);  // composited by the forward
    ra[l] = T(1) / (T(1) - ch.alpha[l]);
    trans[l] = ok[l] ? trans[l] * ra[l] : trans[l];  // now the transmittance in front of this Gaussian
    w[l] = ch.alpha[l] * trans[l];
    dot[l] = T(0);
  }
  for (int64_t d = 0; d < D; ++d) {
    const T* go = px.gout.data() + d * px.plane + q;
    const T cd = s.color[d];
    T* gc = grad + (6 + d) * kLanes;
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      dot[l] += go[l] * cd;
      gc[l] += ok[l] ? w[l] * go[l] : T(0);
    }
  }
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    // d(out)/d(alpha): own weight, minus everything behind scaled by 1 / (1 - alpha).
    const T g_a = trans[l] * dot[l] - behind[l] * ra[l] + galpha[l] * ra[l];
    behind[l] = ok[l] ? behind[l] + w[l] * dot[l] : behind[l];
    // Clamped: no gradient to opacity or shape. (This loop stays scalar on NEON: GCC 12 makes its selects
    // conditional stores, which need AVX2's or SVE's masked stores.)
    const int32_t shape = ok[l] & static_cast<int32_t>(!(ch.vis[l] > amax));
    const T g_sigma = -g_a * ch.vis[l], dx = ch.dx[l];
    grad[0 * kLanes + l] += shape ? g_sigma * -(s.a * dx + s.b * dy) : T(0);
    grad[1 * kLanes + l] += shape ? g_sigma * -(s.b * dx + s.c * dy) : T(0);
    grad[2 * kLanes + l] += shape ? g_sigma * T(0.5) * dx * dx : T(0);
    grad[3 * kLanes + l] += shape ? g_sigma * dx * dy : T(0);
    grad[4 * kLanes + l] += shape ? g_sigma * T(0.5) * dy * dy : T(0);
    grad[5 * kLanes + l] += shape ? g_a * ch.gauss[l] : T(0);
  }
}

// Loads a tile's backward state from the forward's outputs and the incoming gradients; returns the largest
// last rank, the number of list entries the walk back has to visit.
template <typename T>
int32_t load_backward_state(const TileRect& r, int64_t c, const Params& p, const T* ft, const int32_t* ol,
                            const T* gc, const T* ga, const T* bg, BwdPixels<T>& px) {
  const int64_t D = p.D, S = padded_stride(p);
  int32_t max_last = 0;
  for (int64_t y = r.y0; y < r.y1; ++y)
    for (int64_t x = r.x0; x < r.x1; ++x) {
      const int64_t q = (y - r.y0) * S + (x - r.x0), pix = (c * p.H + y) * p.W + x;
      px.trans[q] = ft[pix];
      px.last[q] = ol[pix];
      max_last = std::max(max_last, ol[pix]);
      T b = T(0);
      for (int64_t d = 0; d < D; ++d) {
        px.gout[d * px.plane + q] = gc[pix * D + d];
        if (bg) b += gc[pix * D + d] * bg[c * D + d] * ft[pix];
      }
      px.behind[q] = b;
      px.galpha[q] = ga[pix] * ft[pix];
    }
  return max_last;
}

// Writes one partial gradient row per list entry (every entry, zeros for those no pixel reached), back to
// front per pixel from the forward's last composited Gaussian.
template <typename T>
void backward_kernel(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
                     const at::Tensor& colors, const std::optional<at::Tensor>& backgrounds, const Bins& bins,
                     const at::Tensor& final_t, const at::Tensor& last, const at::Tensor& g_color,
                     const at::Tensor& g_alpha, const Params& p, at::Tensor& partial) {
  const int64_t N = p.N, D = p.D, NT = p.n_tiles(), K = 6 + D, S = padded_stride(p);
  const Inputs<T> in{means2d.data_ptr<T>(), conics.data_ptr<T>(), opacities.data_ptr<T>(),
                     colors.data_ptr<T>(), bins.fp(), D};
  const T* bg = backgrounds ? backgrounds->data_ptr<T>() : nullptr;
  const int64_t* off = bins.offsets.data_ptr<int64_t>();
  const int32_t* ids = bins.ids.data_ptr<int32_t>();
  const T* ft = final_t.data_ptr<T>();
  const int32_t* ol = last.data_ptr<int32_t>();
  const T* gc = g_color.data_ptr<T>();
  const T* ga = g_alpha.data_ptr<T>();
  T* part = partial.data_ptr<T>();
  const T amax = static_cast<T>(p.alpha_max), amin = static_cast<T>(p.alpha_min);

#pragma omp parallel for schedule(dynamic) num_threads(at::get_num_threads())
  for (int64_t ct = 0; ct < p.C * NT; ++ct) {
    const int64_t c = ct / NT;
    const TileRect r = tile_rect(ct % NT, p);
    BwdPixels<T> px(S * p.bin, D);
    const int32_t max_last = load_backward_state(r, c, p, ft, ol, gc, ga, bg, px);
    std::fill(part + (off[ct] + max_last) * K, part + off[ct + 1] * K, T(0));
    std::vector<T> grad(K * kLanes);
    for (int32_t i = max_last - 1; i >= 0; --i) {
      const int64_t k = off[ct] + i;
      const Splat<T> s = load_splat(in, c * N + ids[k], r);
      std::fill(grad.begin(), grad.end(), T(0));
      for_each_chunk<true>(s, r, S, amax, amin, [&](const Chunk<T>& ch, int n, int64_t q, T dy) {
        backprop_chunk(ch, n, q, dy, s, i, amax, D, px, grad.data());
      });
      for (int64_t j = 0; j < K; ++j) {  // lanes summed in a fixed order: deterministic
        T sum = T(0);
        for (int l = 0; l < kLanes; ++l) sum += grad[j * kLanes + l];
        part[k * K + j] = sum;
      }
    }
  }
}

// Fixed-order reduction of the per-entry partials: cameras are independent; within one, entries are added
// in list order, so the sums do not depend on the thread schedule.
template <typename T>
void reduce_partials(const at::Tensor& partial, const at::Tensor& offsets, const at::Tensor& ids,
                     const at::Tensor& g_color, const at::Tensor& final_t, bool has_bg, const Params& p,
                     at::Tensor& d_mean, at::Tensor& d_con, at::Tensor& d_op, at::Tensor& d_col,
                     at::Tensor& d_bg) {
  const T* part = partial.data_ptr<T>();
  const int64_t* off = offsets.data_ptr<int64_t>();
  const int32_t* id = ids.data_ptr<int32_t>();
  T* dm = d_mean.data_ptr<T>();
  T* dc = d_con.data_ptr<T>();
  T* dop = d_op.data_ptr<T>();
  T* dcol = d_col.data_ptr<T>();
  T* dbg = d_bg.data_ptr<T>();
  const T* gc = g_color.data_ptr<T>();
  const T* ft = final_t.data_ptr<T>();
  const int64_t NT = p.n_tiles(), D = p.D, K = 6 + D, HW = p.H * p.W;
#pragma omp parallel for schedule(static) num_threads(at::get_num_threads())
  for (int64_t c = 0; c < p.C; ++c) {
    for (int64_t k = off[c * NT]; k < off[(c + 1) * NT]; ++k) {
      const int64_t g = c * p.N + id[k];
      const T* e = part + k * K;
      dm[g * 2] += e[0];
      dm[g * 2 + 1] += e[1];
      for (int j = 0; j < 3; ++j) dc[g * 3 + j] += e[2 + j];
      dop[g] += e[5];
      for (int64_t d = 0; d < D; ++d) dcol[g * D + d] += e[6 + d];
    }
    if (has_bg)
      for (int64_t pix = c * HW; pix < (c + 1) * HW; ++pix)
        for (int64_t d = 0; d < D; ++d) dbg[c * D + d] += gc[pix * D + d] * ft[pix];
  }
}

Params make_params(const at::Tensor& colors, int64_t W, int64_t H, int64_t gran, int64_t bin, double amax,
                   double amin, double tmin, bool cull) {
  TORCH_CHECK(gran > 0 && bin > 0, "tile sizes must be positive");
  Params p;
  p.C = colors.size(0);
  p.N = colors.size(1);
  p.D = colors.size(2);
  p.W = W;
  p.H = H;
  p.gran = gran;
  p.bin = bin;
  p.tiles_x = (W + bin - 1) / bin;
  p.tiles_y = (H + bin - 1) / bin;
  p.alpha_max = amax;
  p.alpha_min = amin;
  p.transmittance_min = tmin;
  p.cull = cull;
  return p;
}

void check_inputs(const std::vector<at::Tensor>& ts, const at::Tensor& radii) {
  for (const auto& t : ts) {
    TORCH_CHECK(t.device().is_cpu(), "the cpp rasteriser runs on CPU tensors only");
    TORCH_CHECK(t.is_contiguous(), "the cpp rasteriser needs contiguous tensors");
    TORCH_CHECK(t.scalar_type() == ts[0].scalar_type(), "all float inputs must share one dtype");
  }
  TORCH_CHECK(radii.scalar_type() == at::kInt && radii.is_contiguous(), "radii must be contiguous int32");
}

}  // namespace

// Returns (colors [C,H,W,D], alphas [C,H,W,1], final_t [C,H,W], last [C,H,W] int32, footprints, offsets,
// ids);
// the last five are what backward needs.
std::vector<at::Tensor> forward(const at::Tensor& means2d, const at::Tensor& conics,
                                const at::Tensor& opacities, const at::Tensor& colors,
                                const at::Tensor& radii, const at::Tensor& depths,
                                const std::optional<at::Tensor>& backgrounds, int64_t width, int64_t height,
                                int64_t gran, int64_t bin, double alpha_max, double alpha_min,
                                double transmittance_min, bool cull) {
  std::vector<at::Tensor> floats{means2d, conics, opacities, colors, depths};
  if (backgrounds) floats.push_back(*backgrounds);
  check_inputs(floats, radii);
  const Params p = make_params(colors, width, height, gran, bin, alpha_max, alpha_min, transmittance_min, cull);
  const auto opts = colors.options();
  at::Tensor out_color = at::empty({p.C, p.H, p.W, p.D}, opts);
  at::Tensor out_alpha = at::empty({p.C, p.H, p.W, 1}, opts);
  at::Tensor final_t = at::empty({p.C, p.H, p.W}, opts);
  at::Tensor last = at::empty({p.C, p.H, p.W}, opts.dtype(at::kInt));
  Bins bins;
  AT_DISPATCH_FLOATING_TYPES(colors.scalar_type(), "gs_rasterize_forward", [&] {
    bins = bin_gaussians<scalar_t>(means2d, conics, opacities, radii, depths, p);
    forward_kernel<scalar_t>(means2d, conics, opacities, colors, backgrounds, bins, p, out_color, out_alpha,
                             final_t, last);
  });
  return {out_color, out_alpha, final_t, last, bins.footprints, bins.offsets, bins.ids};
}

// Returns (d means2d [C,N,2], d conics [C,N,3], d opacities [C,N], d colors [C,N,D], d backgrounds [C,D]).
std::vector<at::Tensor> backward(const at::Tensor& means2d, const at::Tensor& conics,
                                 const at::Tensor& opacities, const at::Tensor& colors,
                                 const std::optional<at::Tensor>& backgrounds, const at::Tensor& final_t,
                                 const at::Tensor& last, const at::Tensor& footprints, const at::Tensor& offsets,
                                 const at::Tensor& ids, const at::Tensor& g_color, const at::Tensor& g_alpha,
                                 int64_t width, int64_t height, int64_t gran, int64_t bin, double alpha_max,
                                 double alpha_min, double transmittance_min, bool cull) {
  std::vector<at::Tensor> floats{means2d, conics, opacities, colors, final_t, g_color, g_alpha};
  if (backgrounds) floats.push_back(*backgrounds);
  check_inputs(floats, last);
  const Params p = make_params(colors, width, height, gran, bin, alpha_max, alpha_min, transmittance_min, cull);
  const int64_t K = 6 + p.D, M = ids.size(0);
  const auto opts = colors.options();
  at::Tensor partial = at::empty({M, K}, opts);  // the backward writes every row
  at::Tensor d_mean = at::zeros({p.C, p.N, 2}, opts), d_con = at::zeros({p.C, p.N, 3}, opts);
  at::Tensor d_op = at::zeros({p.C, p.N}, opts), d_col = at::zeros({p.C, p.N, p.D}, opts);
  at::Tensor d_bg = at::zeros({p.C, p.D}, opts);
  const Bins bins{footprints, offsets, ids};
  AT_DISPATCH_FLOATING_TYPES(colors.scalar_type(), "gs_rasterize_backward", [&] {
    backward_kernel<scalar_t>(means2d, conics, opacities, colors, backgrounds, bins, final_t, last, g_color,
                              g_alpha, p, partial);
    reduce_partials<scalar_t>(partial, offsets, ids, g_color, final_t, backgrounds.has_value(), p, d_mean,
                              d_con, d_op, d_col, d_bg);
  });
  return {d_mean, d_con, d_op, d_col, d_bg};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "Rasterise projected Gaussians (CPU, fused)");
  m.def("backward", &backward, "Gradients of the fused CPU rasteriser");
}
