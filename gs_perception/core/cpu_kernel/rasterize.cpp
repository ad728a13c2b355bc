// Fused CPU rasteriser for projected Gaussians: forward and backward of
// gs_perception.core.rasterize.rasterize_tiled, with the same per-pixel semantics.
//
// Layout: Gaussians are binned into `bin` x `bin` pixel tiles (camera-major, depth-sorted lists in CSR
// form). Each tile is one OpenMP task; inside it the loop is Gaussian-outer, pixel-inner, and a Gaussian is
// only evaluated on the pixels of its screen box. The box is rounded out to the torch backend's tile grid
// (`gran`), so the set of (Gaussian, pixel) pairs considered is exactly the torch backend's, whatever `bin`.
//
// Determinism: the backward writes one partial gradient per list entry (a Gaussian appears at most once per
// tile, so tiles never share an entry), then reduces the entries into per-Gaussian gradients serially in
// list order. Nothing depends on the thread schedule, so two runs give bitwise equal gradients.

#include <torch/extension.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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

struct Bins {
  at::Tensor boxes;    // [C, N, 4] int32 pixel boxes
  at::Tensor offsets;  // [C * n_tiles + 1] int64 CSR offsets into `ids`
  at::Tensor ids;      // [M] int32 Gaussian index within its camera, depth-sorted per tile
};

// Depth-sorted (stable, ties by index) per-tile lists of the Gaussians whose box touches each tile.
template <typename T>
Bins bin_gaussians(const at::Tensor& means2d, const at::Tensor& radii, const at::Tensor& depths,
                   const Params& p) {
  const int64_t C = p.C, N = p.N, NT = p.n_tiles();
  at::Tensor boxes = at::zeros({C, N, 4}, at::kInt);
  std::vector<std::vector<int32_t>> order(C);
  std::vector<int64_t> counts(C * NT + 1, 0);
  const T* mean = means2d.data_ptr<T>();
  const int32_t* rad = radii.data_ptr<int32_t>();
  const T* depth = depths.data_ptr<T>();
  int32_t* box = boxes.data_ptr<int32_t>();

#pragma omp parallel for schedule(dynamic) num_threads(at::get_num_threads())
  for (int64_t c = 0; c < C; ++c) {
    std::vector<int32_t>& ord = order[c];
    for (int64_t i = 0; i < N; ++i) {
      int32_t* b = box + (c * N + i) * 4;
      pixel_box<T>(mean + (c * N + i) * 2, rad + (c * N + i) * 2, p, b);
      if (b[1] > b[0] && b[3] > b[2]) ord.push_back(static_cast<int32_t>(i));
    }
    const T* d = depth + c * N;
    // NaN depths sort last (like torch.argsort) and keep the comparator a strict weak order.
    auto key = [d](int32_t i) { return std::isnan(d[i]) ? std::numeric_limits<T>::infinity() : d[i]; };
    std::stable_sort(ord.begin(), ord.end(), [&](int32_t a, int32_t b) { return key(a) < key(b); });
    for (int32_t i : ord) {
      const int32_t* b = box + (c * N + i) * 4;
      for (int64_t ty = b[2] / p.bin; ty < (b[3] + p.bin - 1) / p.bin; ++ty)
        for (int64_t tx = b[0] / p.bin; tx < (b[1] + p.bin - 1) / p.bin; ++tx)
          ++counts[c * NT + ty * p.tiles_x + tx + 1];
    }
  }
  std::partial_sum(counts.begin(), counts.end(), counts.begin());
  at::Tensor offsets = at::empty({C * NT + 1}, at::kLong);
  std::copy(counts.begin(), counts.end(), offsets.data_ptr<int64_t>());
  at::Tensor ids = at::empty({counts.back()}, at::kInt);
  int32_t* out = ids.data_ptr<int32_t>();

#pragma omp parallel for schedule(dynamic) num_threads(at::get_num_threads())
  for (int64_t c = 0; c < C; ++c) {
    std::vector<int64_t> cursor(counts.begin() + c * NT, counts.begin() + (c + 1) * NT);
    for (int32_t i : order[c]) {
      const int32_t* b = box + (c * N + i) * 4;
      for (int64_t ty = b[2] / p.bin; ty < (b[3] + p.bin - 1) / p.bin; ++ty)
        for (int64_t tx = b[0] / p.bin; tx < (b[1] + p.bin - 1) / p.bin; ++tx)
          out[cursor[ty * p.tiles_x + tx]++] = i;
    }
  }
  return {boxes, offsets, ids};
}

// One Gaussian's exponent at a pixel centre; the operation order is the torch backend's, and the build
// uses -ffp-contract=off so the forward and the backward compute the very same float.
template <typename T>
inline T sigma_at(T dx, T dy, const T* con) {
  return T(0.5) * (con[0] * dx * dx + con[2] * dy * dy) + con[1] * dx * dy;
}

// Beyond this exponent op * exp(-sigma) is surely below alpha_min, so the pair can be skipped without the
// exp; the 1e-3 margin dwarfs exp's rounding, so no pair the exact test keeps is skipped.
template <typename T>
inline T sigma_cutoff(T op, double alpha_min) {
  constexpr T inf = std::numeric_limits<T>::infinity();
  if (!(op > T(0))) return std::isnan(op) ? inf : -inf;  // NaN: take the exact path; <= 0: skip all
  return static_cast<T>(std::log(static_cast<double>(op) / alpha_min) + 1e-3);
}

struct TileRect {
  int64_t x0, x1, y0, y1;
};

inline TileRect tile_rect(int64_t t, const Params& p) {
  const int64_t tx = t % p.tiles_x, ty = t / p.tiles_x;
  return {tx * p.bin, std::min((tx + 1) * p.bin, p.W), ty * p.bin, std::min((ty + 1) * p.bin, p.H)};
}

template <typename T>
void forward_kernel(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
                    const at::Tensor& colors, const std::optional<at::Tensor>& backgrounds, const Bins& bins,
                    const Params& p, at::Tensor& out_color, at::Tensor& out_alpha, at::Tensor& final_t,
                    at::Tensor& last) {
  const int64_t N = p.N, D = p.D, NT = p.n_tiles();
  const T* mean = means2d.data_ptr<T>();
  const T* con = conics.data_ptr<T>();
  const T* opa = opacities.data_ptr<T>();
  const T* col = colors.data_ptr<T>();
  const T* bg = backgrounds ? backgrounds->data_ptr<T>() : nullptr;
  const int32_t* box = bins.boxes.data_ptr<int32_t>();
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
    const int64_t tw = r.x1 - r.x0, P = tw * (r.y1 - r.y0);
    std::vector<T> trans(P, T(1)), acc(P * D, T(0));
    std::vector<int32_t> lst(P, 0);
    std::vector<uint8_t> done(P, 0);
    int64_t active = P;
    for (int64_t k = off[ct]; k < off[ct + 1] && active > 0; ++k) {
      const int64_t g = c * N + ids[k];
      const int32_t* b = box + g * 4;
      const int64_t x0 = std::max<int64_t>(b[0], r.x0), x1 = std::min<int64_t>(b[1], r.x1);
      const int64_t y0 = std::max<int64_t>(b[2], r.y0), y1 = std::min<int64_t>(b[3], r.y1);
      const T mx = mean[g * 2], my = mean[g * 2 + 1], op = opa[g];
      const T cut = sigma_cutoff(op, p.alpha_min);
      const T* cg = con + g * 3;
      const T* cc = col + g * D;
      for (int64_t y = y0; y < y1; ++y) {
        const T dy = (static_cast<T>(y) + T(0.5)) - my;
        for (int64_t x = x0; x < x1; ++x) {
          const int64_t q = (y - r.y0) * tw + (x - r.x0);
          if (done[q]) continue;
          const T dx = (static_cast<T>(x) + T(0.5)) - mx;
          const T sigma = sigma_at(dx, dy, cg);
          if (sigma > cut) continue;
          // std::min(vis, amax) keeps a NaN, and the negated tests skip it, like torch's where/clamp_max.
          const T alpha = std::min(op * std::exp(-sigma), amax);
          if (!(sigma >= T(0)) || !(alpha >= amin)) continue;
          const T next = trans[q] * (T(1) - alpha);
          if (next <= tmin) {  // this Gaussian would use the pixel up: it ends here, not composited
            done[q] = 1;
            --active;
            continue;
          }
          const T w = alpha * trans[q];
          for (int64_t d = 0; d < D; ++d) acc[q * D + d] += w * cc[d];
          trans[q] = next;
          lst[q] = static_cast<int32_t>(k - off[ct] + 1);
        }
      }
    }
    for (int64_t y = r.y0; y < r.y1; ++y)
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const int64_t q = (y - r.y0) * tw + (x - r.x0), pix = (c * p.H + y) * p.W + x;
        for (int64_t d = 0; d < D; ++d)
          oc[pix * D + d] = acc[q * D + d] + (bg ? bg[c * D + d] * trans[q] : T(0));
        oa[pix] = T(1) - trans[q];
        ft[pix] = trans[q];
        ol[pix] = lst[q];
      }
  }
}

// Per list entry: d/d(mean x, mean y, conic a, b, c, opacity, colour[0..D)). Back to front per pixel,
// recovering each Gaussian's transmittance by dividing out its (1 - alpha), as 3DGS's backward does.
template <typename T>
void backward_kernel(const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
                     const at::Tensor& colors, const std::optional<at::Tensor>& backgrounds, const Bins& bins,
                     const at::Tensor& final_t, const at::Tensor& last, const at::Tensor& g_color,
                     const at::Tensor& g_alpha, const Params& p, at::Tensor& partial) {
  const int64_t N = p.N, D = p.D, NT = p.n_tiles(), K = 6 + D;
  const T* mean = means2d.data_ptr<T>();
  const T* con = conics.data_ptr<T>();
  const T* opa = opacities.data_ptr<T>();
  const T* col = colors.data_ptr<T>();
  const T* bg = backgrounds ? backgrounds->data_ptr<T>() : nullptr;
  const int32_t* box = bins.boxes.data_ptr<int32_t>();
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
    const int64_t tw = r.x1 - r.x0, P = tw * (r.y1 - r.y0);
    // Per pixel: transmittance (walked back up), colour behind (sum of w c plus T_final * background,
    // dotted with the colour gradient), and the constant alpha-output term.
    std::vector<T> trans(P), behind(P), gout(P * D), galpha(P);
    std::vector<int32_t> lst(P);
    int32_t max_last = 0;
    for (int64_t y = r.y0; y < r.y1; ++y)
      for (int64_t x = r.x0; x < r.x1; ++x) {
        const int64_t q = (y - r.y0) * tw + (x - r.x0), pix = (c * p.H + y) * p.W + x;
        trans[q] = ft[pix];
        lst[q] = ol[pix];
        max_last = std::max(max_last, lst[q]);
        T b = T(0);
        for (int64_t d = 0; d < D; ++d) {
          gout[q * D + d] = gc[pix * D + d];
          if (bg) b += gc[pix * D + d] * bg[c * D + d] * ft[pix];
        }
        behind[q] = b;
        galpha[q] = ga[pix] * ft[pix];
      }
    for (int64_t i = max_last - 1; i >= 0; --i) {
      const int64_t k = off[ct] + i, g = c * N + ids[k];
      const int32_t* b = box + g * 4;
      const int64_t x0 = std::max<int64_t>(b[0], r.x0), x1 = std::min<int64_t>(b[1], r.x1);
      const int64_t y0 = std::max<int64_t>(b[2], r.y0), y1 = std::min<int64_t>(b[3], r.y1);
      const T mx = mean[g * 2], my = mean[g * 2 + 1], op = opa[g];
      const T cut = sigma_cutoff(op, p.alpha_min);
      const T* cg = con + g * 3;
      const T* cc = col + g * D;
      T* out = part + k * K;
      for (int64_t y = y0; y < y1; ++y) {
        const T dy = (static_cast<T>(y) + T(0.5)) - my;
        for (int64_t x = x0; x < x1; ++x) {
          const int64_t q = (y - r.y0) * tw + (x - r.x0);
          if (i >= lst[q]) continue;
          const T dx = (static_cast<T>(x) + T(0.5)) - mx;
          const T sigma = sigma_at(dx, dy, cg);
          if (sigma > cut) continue;
          const T gauss = std::exp(-sigma), vis = op * gauss;
          const T alpha = std::min(vis, amax);
          if (!(sigma >= T(0)) || !(alpha >= amin)) continue;
          const T ra = T(1) / (T(1) - alpha);
          trans[q] *= ra;  // now the transmittance in front of this Gaussian
          const T w = alpha * trans[q];
          const T* go = gout.data() + q * D;
          T dot_c = T(0);
          for (int64_t d = 0; d < D; ++d) {
            out[6 + d] += w * go[d];
            dot_c += go[d] * cc[d];
          }
          // d(out)/d(alpha): own weight, minus everything behind scaled by 1 / (1 - alpha).
          const T g_a = trans[q] * dot_c - behind[q] * ra + galpha[q] * ra;
          behind[q] += w * dot_c;
          if (vis > amax) continue;  // clamped: no gradient to opacity or shape (torch's clamp_max)
          const T g_sigma = -g_a * vis;
          out[0] += g_sigma * -(cg[0] * dx + cg[1] * dy);
          out[1] += g_sigma * -(cg[1] * dx + cg[2] * dy);
          out[2] += g_sigma * T(0.5) * dx * dx;
          out[3] += g_sigma * dx * dy;
          out[4] += g_sigma * T(0.5) * dy * dy;
          out[5] += g_a * gauss;
        }
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
                   double amin, double tmin) {
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

// Returns (colors [C,H,W,D], alphas [C,H,W,1], final_t [C,H,W], last [C,H,W] int32, boxes, offsets, ids);
// the last five are what backward needs.
std::vector<at::Tensor> forward(const at::Tensor& means2d, const at::Tensor& conics,
                                const at::Tensor& opacities, const at::Tensor& colors,
                                const at::Tensor& radii, const at::Tensor& depths,
                                const std::optional<at::Tensor>& backgrounds, int64_t width, int64_t height,
                                int64_t gran, int64_t bin, double alpha_max, double alpha_min,
                                double transmittance_min) {
  std::vector<at::Tensor> floats{means2d, conics, opacities, colors, depths};
  if (backgrounds) floats.push_back(*backgrounds);
  check_inputs(floats, radii);
  const Params p = make_params(colors, width, height, gran, bin, alpha_max, alpha_min, transmittance_min);
  const auto opts = colors.options();
  at::Tensor out_color = at::empty({p.C, p.H, p.W, p.D}, opts);
  at::Tensor out_alpha = at::empty({p.C, p.H, p.W, 1}, opts);
  at::Tensor final_t = at::empty({p.C, p.H, p.W}, opts);
  at::Tensor last = at::empty({p.C, p.H, p.W}, opts.dtype(at::kInt));
  Bins bins;
  AT_DISPATCH_FLOATING_TYPES(colors.scalar_type(), "gs_rasterize_forward", [&] {
    bins = bin_gaussians<scalar_t>(means2d, radii, depths, p);
    forward_kernel<scalar_t>(means2d, conics, opacities, colors, backgrounds, bins, p, out_color, out_alpha,
                             final_t, last);
  });
  return {out_color, out_alpha, final_t, last, bins.boxes, bins.offsets, bins.ids};
}

// Returns (d means2d [C,N,2], d conics [C,N,3], d opacities [C,N], d colors [C,N,D], d backgrounds [C,D]).
std::vector<at::Tensor> backward(const at::Tensor& means2d, const at::Tensor& conics,
                                 const at::Tensor& opacities, const at::Tensor& colors,
                                 const std::optional<at::Tensor>& backgrounds, const at::Tensor& final_t,
                                 const at::Tensor& last, const at::Tensor& boxes, const at::Tensor& offsets,
                                 const at::Tensor& ids, const at::Tensor& g_color, const at::Tensor& g_alpha,
                                 int64_t width, int64_t height, int64_t gran, int64_t bin, double alpha_max,
                                 double alpha_min, double transmittance_min) {
  std::vector<at::Tensor> floats{means2d, conics, opacities, colors, final_t, g_color, g_alpha};
  if (backgrounds) floats.push_back(*backgrounds);
  check_inputs(floats, last);
  const Params p = make_params(colors, width, height, gran, bin, alpha_max, alpha_min, transmittance_min);
  const int64_t K = 6 + p.D, M = ids.size(0);
  const auto opts = colors.options();
  at::Tensor partial = at::zeros({M, K}, opts);
  at::Tensor d_mean = at::zeros({p.C, p.N, 2}, opts), d_con = at::zeros({p.C, p.N, 3}, opts);
  at::Tensor d_op = at::zeros({p.C, p.N}, opts), d_col = at::zeros({p.C, p.N, p.D}, opts);
  at::Tensor d_bg = at::zeros({p.C, p.D}, opts);
  const Bins bins{boxes, offsets, ids};
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
