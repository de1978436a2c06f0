# The generic server of seed 004 ("Building a Generic server process"),
# completed: the seed shows ServerProcess.start/1; loop/2, call/2 and cast/2
# and the KeyValueStore callback module are ours, written the way the seed
# describes them. server_process.hpp is the generic part's port and
# server_process.cpp the rest, line for line.
defmodule ServerProcess do
  def start(callback_module) do
    spawn(fn ->
      initial_state = callback_module.init()
      loop(callback_module, initial_state)
    end)
  end

  defp loop(callback_module, current_state) do
    receive do
      {:call, request, caller} ->
        {response, new_state} = callback_module.handle_call(request, current_state)
        send(caller, {:response, response})
        loop(callback_module, new_state)

      {:cast, request} ->
        new_state = callback_module.handle_cast(request, current_state)
        loop(callback_module, new_state)
    end
  end

  def call(server_pid, request) do
    send(server_pid, {:call, request, self()})

    receive do
      {:response, response} -> response
    after
      5000 -> {:error, :timeout}
    end
  end

  def cast(server_pid, request) do
    send(server_pid, {:cast, request})
  end
end

defmodule KeyValueStore do
  # interface functions, run by clients
  def start, do: ServerProcess.start(KeyValueStore)
  def put(pid, key, value), do: ServerProcess.cast(pid, {:put, key, value})
  def get(pid, key), do: ServerProcess.call(pid, {:get, key})

  # callbacks, run by the server process
  def init, do: %{}
  def handle_cast({:put, key, value}, state), do: Map.put(state, key, value)
  def handle_call({:get, key}, state), do: {Map.get(state, key), state}
end

defmodule Counter do
  # a second callback module on the same generic code
  def init, do: 0
  def handle_cast({:add, n}, state), do: state + n
  def handle_call(:value, state), do: {state, state}
end

pid = KeyValueStore.start()
KeyValueStore.put(pid, :rose, "red")
IO.inspect(KeyValueStore.get(pid, :rose))   # "red"
IO.inspect(KeyValueStore.get(pid, :tulip))  # nil

counter = ServerProcess.start(Counter)
Enum.each(1..10, &ServerProcess.cast(counter, {:add, &1}))
IO.inspect(ServerProcess.call(counter, :value))  # 55
