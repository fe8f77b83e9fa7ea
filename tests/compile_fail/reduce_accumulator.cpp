// Must not compile, with lagoon's own message: reduce's result type is not made from an
// element (per-centroid sums of points); the message points at transform_reduce.
#include <lagoon/lagoon.hpp>

struct Point {
  double x, y;
};
struct Sums {
  double sx[2];
};

int main(int argc, char** argv) {
  lagoon::Runtime rt(argc, argv);
  lagoon::SharedArray<Point> points(rt, {4});
  auto add = [](Sums s, const Point& p) {
    s.sx[p.x < 1 ? 0 : 1] += p.x;
    return s;
  };
  (void)lagoon::reduce(rt, points, Sums{}, add);
}
