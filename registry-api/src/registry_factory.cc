#include "dubbo/registry/registry_factory.h"

#include <algorithm>
#include <cctype>
#include <exception>

#include "internal/logging.h"

namespace dubbo::registry {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string RegistryFactory::CacheKey(const URL& normalized_url) const {
  return normalized_url.ToServiceString();
}

RegistryManager::RegistryManager(RegistryOptions options) : options_(options) {}

RegistryManager::~RegistryManager() { DestroyAll(); }

Status RegistryManager::RegisterFactory(std::unique_ptr<RegistryFactory> factory) {
  if (factory == nullptr) return InvalidArgumentError("RegisterFactory: factory is null");
  std::string protocol = Lower(factory->protocol());
  if (protocol.empty())
    return InvalidArgumentError("RegisterFactory: factory has an empty protocol");
  std::lock_guard<std::mutex> lock(mu_);
  if (factories_.count(protocol) != 0) {
    return AlreadyExistsError("a registry factory for protocol '" + protocol +
                              "' is already registered");
  }
  factories_.emplace(std::move(protocol), std::move(factory));
  return Status::Ok();
}

URL RegistryManager::Normalize(const URL& url) {
  return url.WithProtocol(Lower(url.protocol()))
      .WithPath(kRegistryServiceInterface)
      .WithParameter(keys::kInterface, kRegistryServiceInterface)
      .WithoutParameters({"export", "refer", keys::kTimestamp});
}

Result<std::shared_ptr<Registry>> RegistryManager::GetRegistry(const URL& url) {
  const std::string protocol = Lower(url.protocol());
  std::unique_lock<std::mutex> lock(mu_);
  if (destroyed_) return FailedPreconditionError("the registry manager has been destroyed");
  auto found = factories_.find(protocol);
  if (found == factories_.end()) {
    std::string known;
    for (const auto& [name, unused] : factories_) known += (known.empty() ? "" : ", ") + name;
    return NotFoundError("no registry factory for protocol '" + protocol +
                         "' (registered: " + (known.empty() ? std::string("none") : known) + ")");
  }
  // Factories are only added, never removed: the pointer stays valid without the lock.
  RegistryFactory* const factory = found->second.get();
  const URL normalized = Normalize(url);
  const std::string key = factory->CacheKey(normalized);
  auto cached = registries_.find(key);
  if (cached != registries_.end()) {
    if (!cached->second->IsDestroyed()) return cached->second;
    registries_.erase(cached);
  }
  auto in_flight = creating_.find(key);
  if (in_flight != creating_.end()) {
    const std::shared_ptr<Creation> creation = in_flight->second;
    created_.wait(lock, [&] { return creation->done; });
    return creation->result;
  }
  auto creation = std::make_shared<Creation>();
  creating_.emplace(key, creation);
  lock.unlock();

  // Without the lock: a factory may wait for its server (check=true).
  // A throwing factory must still complete the creation, or every later caller of this key would
  // wait for it forever; its exception becomes a status (none crosses this API).
  Result<std::shared_ptr<Registry>> created = InternalError("unset");
  try {
    created = factory->CreateRegistry(normalized, options_);
  } catch (const std::exception& e) {
    created = InternalError("registry factory '" + protocol + "' threw: " + e.what());
  } catch (...) {
    created = InternalError("registry factory '" + protocol + "' threw");
  }
  if (!created.ok()) {
    created = created.status().WithPrefix("creating registry " + normalized.ToRedactedString());
  } else if (*created == nullptr) {
    created = InternalError("registry factory '" + protocol + "' returned null");
  }
  std::shared_ptr<Registry> overtaken;
  lock.lock();
  if (created.ok() && destroyed_) {
    overtaken = std::move(*created);
    created = FailedPreconditionError("the registry manager has been destroyed");
  }
  if (created.ok()) registries_.emplace(key, *created);
  creation->result = created;
  creation->done = true;
  creating_.erase(key);
  lock.unlock();
  created_.notify_all();
  if (overtaken != nullptr) overtaken->Destroy();  // DestroyAll() has run: it never saw this one.
  return created;
}

std::vector<std::shared_ptr<Registry>> RegistryManager::registries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Registry>> out;
  for (const auto& [key, registry] : registries_) {
    if (!registry->IsDestroyed()) out.push_back(registry);
  }
  return out;
}

void RegistryManager::DestroyAll() {
  std::map<std::string, std::shared_ptr<Registry>, std::less<>> registries;
  std::vector<RegistryFactory*> factories;
  {
    std::lock_guard<std::mutex> lock(mu_);
    destroyed_ = true;
    registries.swap(registries_);
    for (const auto& [protocol, factory] : factories_) factories.push_back(factory.get());
  }
  for (RegistryFactory* factory : factories) factory->Shutdown();
  for (auto& [key, registry] : registries) registry->Destroy();
}

RegistryManager& RegistryManager::Default() {
  static RegistryManager* manager = new RegistryManager();  // Never destroyed.
  return *manager;
}

}  // namespace dubbo::registry
