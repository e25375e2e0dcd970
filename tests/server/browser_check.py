"""Drives regionlm-server's page in headless Chromium (Debian's chromium + chromium-driver).

Opens the page, loads the bundled scene, clicks at image pixel (X, Y), waits for the SAM mask
overlay, asks QUESTION, waits for the streamed answer, saves a screenshot, then presses
"Describe everything" and waits for the marks. Prints one JSON object with what the page
showed; browser_test.cpp compares it with the library.

    browser_check.py URL X Y QUESTION SCREENSHOT_PREFIX
"""
import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main():
    url, x, y, question, screenshot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(url)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        driver.find_element(By.ID, "scene-button").click()
        canvas = driver.find_element(By.ID, "canvas")
        wait.until(lambda d: canvas.get_attribute("data-image") == "loaded")

        # Image pixel (x, y) -> an offset from the canvas element's centre (Selenium 4).
        size = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.width, r.height, arguments[0].width, arguments[0].height];", canvas)
        sx, sy = size[0] / size[2], size[1] / size[3]
        dx = round((x + 0.5) * sx - size[0] / 2)
        dy = round((y + 0.5) * sy - size[1] / 2)
        ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()
        wait.until(lambda d: canvas.get_attribute("data-masks") == "1")
        region = driver.execute_script(
            "const r = window.regionlm.regions[0]; return {points: r.prompt.points, rle: r.spec.mask};")

        driver.find_element(By.ID, "question").send_keys(question)
        driver.find_element(By.ID, "ask").click()
        answer = driver.find_element(By.ID, "answer")
        wait.until(lambda d: answer.get_attribute("data-state") in ("done", "error"))
        result = {"points": region["points"], "rle": region["rle"], "answer": answer.text,
                  "answer_state": answer.get_attribute("data-state")}
        driver.save_screenshot(screenshot + "-ask.png")

        driver.find_element(By.ID, "everything").click()
        wait.until(lambda d: canvas.get_attribute("data-marks") is not None or
                   "failed" in d.find_element(By.ID, "status").text)
        result["marks"] = canvas.get_attribute("data-marks")
        result["mark_texts"] = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#marks li")]
        result["masks_drawn"] = canvas.get_attribute("data-masks")
        result["status"] = driver.find_element(By.ID, "status").text
        driver.save_screenshot(screenshot + "-everything.png")
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
