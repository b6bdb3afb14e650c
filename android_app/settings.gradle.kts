// HarnessBench for Android: the app (:app, Android only) around its plain-Kotlin core (:core, JVM).
// Never built on the project's machines (the Android Gradle plugin cannot be fetched there); see
// README.md for the build, and tests/test_android_app.py for what is compiled and tested.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "HarnessBench"
include(":core", ":app")
