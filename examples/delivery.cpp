// Port of delivery.go: the delivery business of seed 000. Order takers
// record each call in the ledger, then put it on the delivery list; drivers
// take orders off the list, report the pick-up, drive, report the delivery.
// At the end main counts every report and proves the seed's three
// requirements: no order delivered twice, every order recorded, no two
// drivers took the same order.
//
// A channel receive hands each value to exactly one receiver: that is why
// two drivers cannot take the same order. The counting shows it held.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include <chan/chan.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>
#include <fiber/wait_group.hpp>

#include "defer.hpp"
#include "example.hpp"

using namespace std::chrono_literals;

struct order {
    int id;
    int taker;
};

struct trip {  // a driver's report: picked up or delivered
    int order;
    int driver;
};

constexpr int num_orders = 1000, num_takers = 3, num_drivers = 100;

// order_taker records every call in the ledger, then puts it on the list.
void order_taker(int id, csp::recv_chan<int> calls, csp::send_chan<order> ledger, csp::send_chan<order> list,
                 csp::wait_group* wg) {
    examples::defer done([&] { wg->done(); });
    for (int call : calls) {
        order o{call, id};
        ledger.send(o);  // recorded before anyone can deliver it
        list.send(o);
    }
}

// driver takes orders off the list until it is closed and empty.
void driver(int id, csp::recv_chan<order> list, csp::send_chan<trip> pickups, csp::send_chan<trip> deliveries,
            csp::wait_group* wg) {
    examples::defer done([&] { wg->done(); });
    std::minstd_rand rng(id);
    for (order o : list) {
        pickups.send(trip{o.id, id});
        csp::sleep_for(std::chrono::milliseconds(1 + rng() % 3));  // on the road
        deliveries.send(trip{o.id, id});
    }
}

// count_trips counts the trips per order and remembers each order's driver;
// false if an order appears with two drivers.
bool count_trips(csp::recv_chan<trip> trips, std::vector<int>& count, std::vector<int>& driver_of) {
    bool one_driver = true;
    for (trip t : trips) {
        count[t.order]++;
        if (driver_of[t.order] != 0 && driver_of[t.order] != t.driver) one_driver = false;
        driver_of[t.order] = t.driver;
    }
    return one_driver;
}

int main() {
    csp::run([] {
        csp::chan<int> calls;                   // the phones
        csp::chan<order> ledger(num_orders);    // the order book
        csp::chan<order> list(20);              // the delivery list
        csp::chan<trip> pickups(num_orders);    // drivers' pick-up reports
        csp::chan<trip> deliveries(num_orders); // drivers' delivery reports

        csp::go([=] {
            for (int i = 1; i <= num_orders; ++i) calls.send(i);
            calls.close();
        });

        csp::wait_group takers, drivers;
        for (int t = 1; t <= num_takers; ++t) {
            takers.add(1);
            csp::go(order_taker, t, calls, ledger, list, &takers);
        }
        for (int d = 1; d <= num_drivers; ++d) {
            drivers.add(1);
            csp::go(driver, d, list, pickups, deliveries, &drivers);
        }
        takers.wait();
        ledger.close();
        list.close();
        drivers.wait();
        pickups.close();
        deliveries.close();

        // The proof.
        std::vector<int> recorded(num_orders + 1), taken_by(num_takers + 1);
        for (order o : ledger) {
            recorded[o.id]++;
            taken_by[o.taker]++;
        }
        std::vector<int> picked(num_orders + 1), picked_by(num_orders + 1);
        std::vector<int> delivered(num_orders + 1), delivered_by(num_orders + 1);
        const bool one_picker = count_trips(pickups, picked, picked_by);
        const bool one_deliverer = count_trips(deliveries, delivered, delivered_by);

        int recorded_once = 0, picked_once = 0, delivered_once = 0, same_driver = 0;
        for (int id = 1; id <= num_orders; ++id) {
            recorded_once += recorded[id] == 1;
            picked_once += picked[id] == 1;
            delivered_once += delivered[id] == 1;
            same_driver += picked_by[id] != 0 && picked_by[id] == delivered_by[id];
        }
        examples::check(recorded_once == num_orders, "an order was not recorded, or recorded twice");
        examples::check(one_picker && picked_once == num_orders, "an order was picked up twice, or never");
        examples::check(one_deliverer && delivered_once == num_orders, "an order was delivered twice, or never");
        examples::check(same_driver == num_orders, "an order was delivered by a driver who did not pick it up");
        std::printf("%d calls taken by %d order takers, delivered by %d drivers\n", num_orders, num_takers,
                    num_drivers);
        std::printf("proof: every one of the %d orders was recorded exactly once\n", recorded_once);
        std::printf("proof: every order was picked up by exactly one driver\n");
        std::printf("proof: every order was delivered exactly once, by the driver who picked it up\n");
        int busiest = 0, working = 0;  // varies from run to run
        for (int d = 1; d <= num_drivers; ++d) {
            int n = 0;
            for (int id = 1; id <= num_orders; ++id) n += delivered_by[id] == d;
            busiest = std::max(busiest, n);
            working += n > 0;
        }
        std::printf("%d drivers made deliveries, the busiest %d\n", working, busiest);
    });
}
