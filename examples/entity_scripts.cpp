// SPDX-License-Identifier: BSL-1.0
// entity_scripts: 100,000 game entities, each with a behaviour script that runs as a fiber and yields
// once per frame.
//
// Engines usually write behaviour as explicit state machines (an enum, a switch, counters in the
// entity) because a thread or a full-size fiber per entity is far too expensive. A fiber per entity
// lets the script be ordinary code instead: "walk to the next waypoint, wait there three frames, chase
// the player while you see him" is a loop with a yield in it, and its state is its locals and where it
// stands in its code. ebb::compact_fiber makes that affordable for 100,000 entities: a suspended
// script keeps only its live frames (a few hundred bytes) in 2 KiB of storage plus its control block,
// and every script of the thread runs on one shared execution stack.
//
// The rules that buy this (docs/api.md, "Compact fibers"): a compact fiber runs only on the thread
// that first resumed it, and while it is suspended nothing outside it may use a pointer into its
// frames. Here the frame loop resumes every script on the main thread, and the scripts keep their
// state in their own locals and in their entity, which lives outside any fiber.
//
// Per frame the program prints how many scripts are still alive, what they are doing, and the stack
// storage per suspended script from ebb::stack_registry::profile().
//
//   build and run:  cmake --build build --target example_entity_scripts && build/example_entity_scripts
#include <ebb/ebb.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int world_size = 1024;  // a square world, integer coordinates (the same results everywhere)
constexpr int sight = 24;         // a guard sees the player this far (in each axis)
constexpr int give_up_after = 8;  // frames a chasing guard goes on without seeing the player

struct point {
  int x, y;
};

int distance(point a, point b) {  // in moves: a step changes x and y by one each
  const int dx = std::abs(a.x - b.x), dy = std::abs(a.y - b.y);
  return dx > dy ? dx : dy;
}

point step_towards(point from, point to, int speed) {
  for (int s = 0; s < speed; ++s) {
    from.x += (to.x > from.x) - (to.x < from.x);
    from.y += (to.y > from.y) - (to.y < from.y);
  }
  return from;
}

enum class activity : std::uint8_t { patrolling, waiting, chasing, leaving };

struct entity {
  point position;
  activity doing = activity::patrolling;
  std::uint32_t id = 0;
  int frames_run = 0;     // steps its script has taken (one per frame while it lives)
  int finished_at = 0;    // the frame its script ended in (0: still running)
  bool caught_player = false;
};

struct world {
  point player{0, world_size / 2};
  int frame = 0;
  std::vector<entity> entities;
};

// The player runs across the world from west to east, weaving, at two cells a frame.
void move_player(world& w) {
  w.player.x += 2;
  w.player.y = world_size / 2 + ((w.frame / 4) % 2 == 0 ? 1 : -1) * (w.frame % 4) * 3;
}

// Called by a script once per frame: marks the step, hands the frame back to the loop, and returns
// in the next frame.
void end_of_frame(entity& self) {
  ++self.frames_run;
  ebb::this_fiber::yield();
}

// A guard walks between its post and a point east of it, waits a few frames at each end, and chases
// the player whenever it sees him. A guard that catches the player is done (it raises the alarm and
// leaves the level); one that loses him for a while goes back to its patrol. The patrol's length and
// the wait differ from guard to guard, so they do not all march in step.
void guard_script(entity& self, const world& w) {
  const point post = self.position;
  const point turn{post.x + 8 + static_cast<int>(self.id % 16), post.y};
  const int wait_frames = 1 + static_cast<int>(self.id % 4);
  for (bool outward = true;; outward = !outward) {
    const point target = outward ? turn : post;
    while (self.position.x != target.x || self.position.y != target.y) {
      if (distance(self.position, w.player) <= sight) {  // spotted: chase, then resume the patrol
        self.doing = activity::chasing;
        int unseen = 0;  // frames since it last saw the player
        while (unseen < give_up_after) {
          self.position = step_towards(self.position, w.player, 3);
          if (distance(self.position, w.player) <= 1) {
            self.caught_player = true;
            return;  // the script ends: this entity leaves the game
          }
          unseen = distance(self.position, w.player) <= sight ? 0 : unseen + 1;
          end_of_frame(self);
        }
      }
      self.doing = activity::patrolling;
      self.position = step_towards(self.position, target, 1);
      end_of_frame(self);
    }
    self.doing = activity::waiting;
    for (int waited = 0; waited < wait_frames; ++waited) end_of_frame(self);
  }
}

// A villager walks to the nearest edge of the world a few cells a frame and leaves: an entity whose
// script ends early, as spawned effects and projectiles do.
void villager_script(entity& self) {
  self.doing = activity::leaving;
  const int speed = 40 + static_cast<int>(self.id % 40);
  while (self.position.x > 0) {
    self.position.x = self.position.x > speed ? self.position.x - speed : 0;
    end_of_frame(self);
  }
}

bool is_villager(const entity& e) { return e.id % 10 == 0; }

}  // namespace

// ThreadSanitizer tracks every fiber like a thread and stops the program at 8128 of them: under it,
// the example runs with fewer entities (EBB_TSAN comes from <ebb/config.hpp>).
#if EBB_TSAN
constexpr std::size_t entity_count = 1000;  // and each switch costs it far more: 1000 keep the run to seconds
#else
constexpr std::size_t entity_count = 100000;
#endif

int main() {
  constexpr int frames = 30;

  world w;
  w.entities.resize(entity_count);
  for (std::uint32_t i = 0; i < entity_count; ++i) {
    entity& e = w.entities[i];
    e.id = i;
    // Scattered over the world by two strides: the same layout on every run and platform.
    const std::uint64_t n = i;
    e.position = point{static_cast<int>(n * 7919 % world_size), static_cast<int>(n * 104729 / 97 % world_size)};
  }

  // One compact fiber per entity. Each captures only its entity and the world: objects outside every
  // fiber, which stay where they are while the script is suspended.
  std::vector<ebb::compact_fiber> scripts;
  scripts.reserve(entity_count);
  for (entity& e : w.entities) {
    if (is_villager(e)) {
      scripts.emplace_back([&e] { villager_script(e); });
    } else {
      scripts.emplace_back([&e, &w] { guard_script(e, w); });
    }
  }

  std::printf("%zu entity scripts (guards and villagers), %d frames; a player runs through the world\n",
              entity_count, frames);
  std::printf("                                                          per suspended script\n");
  std::printf("frame   alive  patrolling  waiting  chasing  leaving  ended  live frames  storage\n");
  std::size_t caught_total = 0;
  for (w.frame = 1; w.frame <= frames; ++w.frame) {
    move_player(w);
    // The frame: every live script takes one step, all on this thread.
    std::size_t alive = 0, ended = 0, caught = 0, counts[4] = {};
    for (std::size_t i = 0; i < entity_count; ++i) {
      if (scripts[i].done()) continue;
      entity& e = w.entities[i];
      if (scripts[i].resume()) {
        ++alive;
        ++counts[static_cast<std::size_t>(e.doing)];
      } else {
        e.finished_at = w.frame;  // its function returned in this step
        ++ended;
        if (e.caught_player) ++caught;
      }
    }
    caught_total += caught;
    // Every live script is suspended now. profile() adds up, over all of them, the bytes of frames
    // each one keeps alive (used) and the storage its frames are saved in (committed): the policies'
    // 2 KiB minimum, since no script goes deeper. Each also has a control block of about 400 bytes.
    const ebb::stack_profile profile = ebb::stack_registry::profile();
    const std::size_t fibers = profile.fibers != 0 ? profile.fibers : 1;
    std::printf("%5d  %6zu  %10zu  %7zu  %7zu  %7zu  %5zu  %7zu bytes  %5zu bytes\n", w.frame, alive, counts[0],
                counts[1], counts[2], counts[3], ended, profile.used / fibers, profile.committed / fibers);
  }

  // Check: every script took exactly one step per frame while it lived, the scripts whose function
  // returned are the ones marked finished, every villager left (the slowest needs 26 frames), and
  // the only guards that ended are those that caught the player.
  bool ok = true;
  std::size_t finished = 0;
  for (std::size_t i = 0; i < entity_count; ++i) {
    const entity& e = w.entities[i];
    const bool ended = e.finished_at != 0;
    const int steps_expected = ended ? e.finished_at - 1 : frames;  // the last step returns, not yields
    if (ended != scripts[i].done() || e.frames_run != steps_expected) ok = false;
    if (is_villager(e) ? !ended : ended != e.caught_player) ok = false;
    finished += ended ? 1 : 0;
  }
  const std::size_t villagers = entity_count / 10;
  std::printf("%zu scripts finished early (%zu villagers of %zu left the world, %zu guards caught the player)\n",
              finished, finished - caught_total, villagers, caught_total);
  // The rest are still suspended: destroying them unwinds each on this thread, its own.
  scripts.clear();
  std::printf("%s\n", ok ? "every script's steps checked" : "WRONG STEP COUNTS");
  return ok ? 0 : 1;
}
